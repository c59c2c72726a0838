package cluster

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// appsDaemonSetList names the list type where a list of list types is
// built.
type appsDaemonSetList = appsv1.DaemonSetList

// names are the kind/name of a list's items.
func names(list client.ObjectList) []string {
	items, err := meta.ExtractList(list)
	if err != nil {
		return []string{err.Error()}
	}
	var out []string
	for _, o := range items {
		if obj, ok := o.(client.Object); ok {
			out = append(out, fmt.Sprintf("%T %s", o, obj.GetName()))
		}
	}
	return out
}

// httpGet returns the body of GET url.
func httpGet(ctx context.Context, url string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(b), nil
}

// metricValue is the value of the sample that starts with series (a name
// and its labels as Prometheus prints them), 0 when there is none.
func metricValue(text, series string) float64 {
	for _, line := range strings.Split(text, "\n") {
		rest, ok := strings.CutPrefix(line, series+" ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
		if err == nil {
			return v
		}
	}
	return 0
}

// grepLines are the samples of the named metrics, on one line.
func grepLines(text string, metrics ...string) string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		for _, m := range metrics {
			if strings.HasPrefix(line, m+"{") || strings.HasPrefix(line, m+" ") {
				out = append(out, line)
			}
		}
	}
	return strings.Join(out, "; ")
}
