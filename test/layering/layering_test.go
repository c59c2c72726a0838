package layering

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/whycache/whycache"

// deps lists the packages of this module that pkg imports, directly or not.
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", pkg).CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
	}
	var mine []string
	for _, p := range strings.Fields(string(out)) {
		if p == module || strings.HasPrefix(p, module+"/") {
			mine = append(mine, p)
		}
	}
	return mine
}

func TestLayering(t *testing.T) {
	for _, tc := range []struct {
		pkg       string
		forbidden []string
	}{
		{module, []string{"/controllers", "/api/"}},
		{module + "/pkg/cachefile", []string{"/controllers", "/api/"}},
		{module + "/pkg/logstore/...", []string{"/controllers", "/api/"}},
		{module + "/pkg/agentapi", []string{"/controllers", "/api/", "/node-agent", "/pkg/cachefile"}},
		{module + "/controllers", []string{"/node-agent", "/pkg/cachefile"}},
		// The pod webhook runs in the operator: no data path in it.
		{module + "/internal/webhook/...", []string{"/node-agent", "/pkg/cachefile"}},
		{module + "/api/...", []string{"/controllers", "/node-agent", "/pkg/cachefile", "/pkg/logstore"}},
	} {
		t.Run(tc.pkg, func(t *testing.T) {
			for _, d := range deps(t, tc.pkg) {
				for _, f := range tc.forbidden {
					rest := strings.TrimPrefix(d, module)
					if rest == strings.TrimSuffix(f, "/") || strings.HasPrefix(rest, strings.TrimSuffix(f, "/")+"/") {
						t.Errorf("%s imports %s", tc.pkg, d)
					}
				}
			}
		})
	}
}
