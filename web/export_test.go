package web

import (
	"regexp"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// CSVCell exposes csvCell to the tests.
var CSVCell = csvCell

// RoutesWithoutRow returns the registered routes ("METHOD /pattern") that none of rows
// ("METHOD /concrete/path") matches: the authorization matrix must name every route.
// Static files, mounts and HEAD twins of GETs are left out.
func RoutesWithoutRow(app *fiber.App, rows []string) []string {
	var missing []string
	seen := map[string]bool{}
	for _, r := range app.GetRoutes(true) {
		if r.Method == fiber.MethodHead || r.Method == "USE" || strings.HasPrefix(r.Path, "/static") || strings.Contains(r.Path, "*") {
			continue
		}
		key := r.Method + " " + r.Path
		if seen[key] {
			continue
		}
		seen[key] = true
		re := regexp.MustCompile("^" + r.Method + " " + regexp.MustCompile(`:[A-Za-z_]+`).ReplaceAllString(regexp.QuoteMeta(r.Path), `[^/]+`) + "$")
		found := false
		for _, row := range rows {
			if re.MatchString(row) {
				found = true
				break
			}
		}
		if !found {
			missing = append(missing, key)
		}
	}
	return missing
}
