package controllers

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	whycachev1 "github.com/whycache/whycache/api/v1alpha1"
)

// sample reads a sample from config/samples as an unstructured object in
// namespace ns.
func sample(t *testing.T, file, ns string) *unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "config", "samples", file))
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(data, &u.Object); err != nil {
		t.Fatal(err)
	}
	u.SetNamespace(ns)
	return u
}

const (
	minimalSample = "whycache_v1alpha1_whycacheinstance_minimal.yaml"
	fullSample    = "whycache_v1alpha1_whycacheinstance_full.yaml"
)

func TestSamplesAccepted(t *testing.T) {
	needEnv(t)
	ns := testNamespace(t)
	for _, f := range []string{minimalSample, fullSample} {
		if err := admin.Create(t.Context(), sample(t, f, ns)); err != nil {
			t.Errorf("create %s: %v", f, err)
		}
	}
	// The minimal sample gets the documented defaults.
	var inst whycachev1.WhycacheInstance
	if err := admin.Get(t.Context(), key(ns, "flags"), &inst); err != nil {
		t.Fatal(err)
	}
	s := inst.Spec
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"logStore.urlSecretRef.key", s.LogStore.URLSecretRef.Key, "url"},
		{"logStore.logName", s.LogStore.LogName, "default"},
		{"agent.hostPathBase", s.Agent.HostPathBase, "/var/lib/whycache"},
		{"agent.maxLag", s.Agent.MaxLag.Duration.String(), "30s"},
		{"agent.maxLagIDs", s.Agent.MaxLagIDs, int64(10000)},
		{"agent.logLevel", s.Agent.LogLevel, whycachev1.LogLevelInfo},
		{"agent.terminationGracePeriodSeconds", s.Agent.TerminationGracePeriodSeconds, int64(60)},
		{"historyRewrite.schedule", s.HistoryRewrite.Schedule, "30 3 * * *"},
		{"historyRewrite.nodeGoneAfter", s.HistoryRewrite.NodeGoneAfter.Duration.String(), "1h0m0s"},
		{"historyRewrite.startingDeadlineSeconds", s.HistoryRewrite.StartingDeadlineSeconds, int64(300)},
		{"historyRewrite.successfulJobsHistoryLimit", s.HistoryRewrite.SuccessfulJobsHistoryLimit, int32(3)},
		{"limits.maxKeySize", s.Limits.MaxKeySize, int64(65536)},
		{"limits.maxUpdateSize", s.Limits.MaxUpdateSize, int64(64 << 20)},
	} {
		if c.got != c.want {
			t.Errorf("default of spec.%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestInvalidSpecsRejected(t *testing.T) {
	needEnv(t)
	ns := testNamespace(t)
	set := func(path string, v any) func(u *unstructured.Unstructured) {
		return func(u *unstructured.Unstructured) {
			if err := unstructured.SetNestedField(u.Object, v, strings.Split(path, ".")...); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tc := range []struct {
		name   string
		mutate func(u *unstructured.Unstructured)
		want   string
	}{
		{"no log store", func(u *unstructured.Unstructured) { unstructured.RemoveNestedField(u.Object, "spec", "logStore") }, "spec.logStore: Required value"},
		{"no secret name", func(u *unstructured.Unstructured) {
			unstructured.RemoveNestedField(u.Object, "spec", "logStore", "urlSecretRef", "name")
		}, "spec.logStore.urlSecretRef.name: Required value"},
		{"bad log name", set("spec.logStore.logName", "Flags-1"), "spec.logStore.logName: Invalid value"},
		{"long instance name", func(u *unstructured.Unstructured) { u.SetName(strings.Repeat("a", 41)) }, "metadata.name must be at most 40 characters"},
		{"cron with four fields", set("spec.historyRewrite.schedule", "0 * * *"), "spec.historyRewrite.schedule: Invalid value"},
		{"cron with words", set("spec.historyRewrite.schedule", "every day"), "spec.historyRewrite.schedule: Invalid value"},
		{"unknown descriptor", set("spec.historyRewrite.schedule", "@fortnightly"), "spec.historyRewrite.schedule: Invalid value"},
		{"bad duration", set("spec.agent.maxLag", "30 seconds"), "spec.agent.maxLag: Invalid value"},
		{"maxLag too short", set("spec.agent.maxLag", "500ms"), "maxLag must be at least 1s"},
		{"nodeGoneAfter too short", set("spec.historyRewrite.nodeGoneAfter", "30s"), "nodeGoneAfter must be at least 1m"},
		{"maxLag not below nodeGoneAfter", func(u *unstructured.Unstructured) {
			set("spec.agent.maxLag", "2h")(u)
			set("spec.historyRewrite.nodeGoneAfter", "1h")(u)
		}, "agent.maxLag must be shorter than historyRewrite.nodeGoneAfter"},
		{"relative host path", set("spec.agent.hostPathBase", "var/lib/whycache"), "spec.agent.hostPathBase: Invalid value"},
		{"host path with ..", set("spec.agent.hostPathBase", "/var/../etc"), "hostPathBase must not contain '..'"},
		{"unknown log level", set("spec.agent.logLevel", "loud"), `spec.agent.logLevel: Unsupported value: "loud"`},
		{"bad pull policy", set("spec.agent.imagePullPolicy", "Sometimes"), "spec.agent.imagePullPolicy: Unsupported value"},
		{"grace too short", set("spec.agent.terminationGracePeriodSeconds", int64(1)), "spec.agent.terminationGracePeriodSeconds: Invalid value"},
		{"zero key size", set("spec.limits.maxKeySize", int64(0)), "spec.limits.maxKeySize: Invalid value"},
		{"update smaller than key and value", func(u *unstructured.Unstructured) {
			set("spec.limits.maxKeySize", int64(1024))(u)
			set("spec.limits.maxValueSize", int64(4096))(u)
			set("spec.limits.maxUpdateSize", int64(2048))(u)
		}, "maxUpdateSize must hold at least one key of maxKeySize and one value of maxValueSize"},
		{"snapshots without bucket", set("spec.snapshots", map[string]any{"schedule": "@hourly"}), "spec.snapshots.bucket: Required value"},
		{"bad bucket", set("spec.snapshots", map[string]any{"bucket": "My_Bucket"}), "spec.snapshots.bucket: Invalid value"},
		{"prefix with leading slash", set("spec.snapshots", map[string]any{"bucket": "b-1", "prefix": "/x"}), "spec.snapshots.prefix: Invalid value"},
		{"endpoint not a URL", set("spec.snapshots", map[string]any{"bucket": "b-1", "endpoint": "minio:9000"}), "spec.snapshots.endpoint: Invalid value"},
		{"path style without endpoint", set("spec.snapshots", map[string]any{"bucket": "b-1", "pathStyle": true}), "pathStyle needs an endpoint"},
		{"zero retention", set("spec.snapshots", map[string]any{"bucket": "b-1", "retention": int64(0)}), "spec.snapshots.retention: Invalid value"},
		{"socket mode not octal", set("spec.agent.writes.socketMode", "0680"), "spec.agent.writes.socketMode: Invalid value"},
		{"socket mode too long", set("spec.agent.writes.socketMode", "10660"), "spec.agent.writes.socketMode: Invalid value"},
		{"socket group without a mode", set("spec.agent.writes.socketGroup", int64(4000)), "socketGroup limits the writers only with a socketMode that gives others nothing"},
		{"socket group with a world-writable mode", set("spec.agent.writes", map[string]any{"socketGroup": int64(4000), "socketMode": "0666"}),
			"socketGroup limits the writers only with a socketMode that gives others nothing"},
		{"negative socket group", set("spec.agent.writes.socketGroup", int64(-1)), "spec.agent.writes.socketGroup: Invalid value"},
		{"tiny in-flight bound", set("spec.agent.writes.maxInFlightBytes", int64(1024)), "spec.agent.writes.maxInFlightBytes: Invalid value"},
		{"zero connections", set("spec.agent.writes.maxConnections", int64(0)), "spec.agent.writes.maxConnections: Invalid value"},
		{"write timeout too short", set("spec.agent.writes.timeout", "100ms"), "writes.timeout must be between 1s and 1h"},
		{"write timeout not a duration", set("spec.agent.writes.timeout", "soon"), "spec.agent.writes.timeout: Invalid value"},
		{"short starting deadline", set("spec.historyRewrite.startingDeadlineSeconds", int64(1)), "spec.historyRewrite.startingDeadlineSeconds: Invalid value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := sample(t, minimalSample, ns)
			u.SetName("bad")
			tc.mutate(u)
			err := admin.Create(t.Context(), u)
			if err == nil {
				t.Fatalf("created, want a rejection with %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("rejected with\n%v\nwant a message with %q", err, tc.want)
			}
		})
	}
}
