package views

import (
	"fmt"
	"net/http"
)

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

// plural is "1 payment", "2 payments".
func plural[N ~int | ~int64](n N, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
