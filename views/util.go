package views

import "net/http"

func statusTitle(status int) string {
	switch status {
	case 404:
		return "Not found"
	case 403:
		return "Not allowed"
	case 429:
		return "Slow down"
	}
	if t := http.StatusText(status); t != "" {
		return t
	}
	return "Error"
}
