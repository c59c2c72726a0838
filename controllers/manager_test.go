package controllers

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	whycachev1 "github.com/whycache/whycache/api/v1alpha1"
)

// TestManagerRunsWithItsGeneratedRole runs the whole manager (cache,
// watches, leader election, events) as the operator's ServiceAccount bound
// to the generated role: a missing permission fails it.
func TestManagerRunsWithItsGeneratedRole(t *testing.T) {
	needEnv(t)
	// The API server enforces RBAC: a ServiceAccount without the role
	// cannot even list DaemonSets.
	nobody := rest.CopyConfig(adminCfg)
	nobody.Impersonate = rest.ImpersonationConfig{UserName: serviceAccountUser(operatorNamespace, "nobody")}
	nc, err := client.New(nobody, client.Options{Scheme: NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.List(t.Context(), &appsv1.DaemonSetList{}); !apierrors.IsForbidden(err) {
		t.Fatalf("list DaemonSets without the role: %v, want Forbidden", err)
	}

	mgr, err := NewManager(operatorCfg, ManagerOptions{
		MetricsAddr: "0", ProbeAddr: "0", LeaderElection: true, LeaderElectionNamespace: operatorNamespace,
		AgentImage: testImage, StorePollInterval: time.Hour, StoreTimeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	var runErr error
	wg.Go(func() { runErr = mgr.Start(ctx) })
	defer func() {
		cancel()
		wg.Wait()
		if runErr != nil {
			t.Errorf("manager: %v", runErr)
		}
	}()

	ns := testNamespace(t)
	storeSecret(t, ns, "mgr-store", t.TempDir())
	inst := createInstance(t, ns, "mgr", func(i *whycachev1.WhycacheInstance) { i.Spec.LogStore.CreateLog = false })
	eventually(t, time.Minute, func() error {
		var ds appsv1.DaemonSet
		if err := admin.Get(t.Context(), key(ns, agentName(inst)), &ds); err != nil {
			return err
		}
		cur := getInstance(t, ns, "mgr")
		if c := meta.FindStatusCondition(cur.Status.Conditions, whycachev1.ConditionLogStoreReachable); c == nil {
			return fmt.Errorf("%w: no LogStoreReachable condition", errNotYet)
		}
		return nil
	})
	// The watch on DaemonSets reaches the reconciler (the store poll is an
	// hour away): the DaemonSet's readiness shows in the instance's status.
	setDaemonSetStatus(t, getDaemonSet(t, inst), 1, 1)
	eventually(t, time.Minute, func() error {
		if s := getInstance(t, ns, "mgr").Status.Nodes.Summary; s != "1/1" {
			return fmt.Errorf("%w: nodes %q", errNotYet, s)
		}
		return nil
	})
}

// TestOperatorRoleIsLeast asks the API server what the operator's
// ServiceAccount may do: what its cache and reconciler need, and nothing
// else of note.
func TestOperatorRoleIsLeast(t *testing.T) {
	needEnv(t)
	for _, tc := range []struct {
		verb, group, resource, sub string
		allowed                    bool
	}{
		{"watch", "whycache.io", "whycacheinstances", "", true},
		{"update", "whycache.io", "whycacheinstances", "status", true},
		{"update", "whycache.io", "whycacheinstances", "", false},
		{"watch", "apps", "daemonsets", "", true},
		{"patch", "apps", "daemonsets", "", true},
		{"delete", "apps", "daemonsets", "", false},
		{"watch", "batch", "jobs", "", true},
		{"delete", "batch", "jobs", "", true},
		{"watch", "", "serviceaccounts", "", true},
		{"get", "", "secrets", "", true},
		{"list", "", "secrets", "", false},
		{"watch", "", "secrets", "", false},
		{"list", "", "pods", "", true},
		{"watch", "", "pods", "", false},
		{"create", "", "pods", "", false},
		{"create", "events.k8s.io", "events", "", true},
		{"create", "rbac.authorization.k8s.io", "rolebindings", "", false},
		{"create", "", "serviceaccounts", "token", false},
	} {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User:   serviceAccountUser(operatorNamespace, operatorSA),
			Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + operatorNamespace, "system:authenticated"},
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace: "some-app", Verb: tc.verb, Group: tc.group, Resource: tc.resource, Subresource: tc.sub,
			},
		}}
		if err := admin.Create(t.Context(), sar); err != nil {
			t.Fatal(err)
		}
		if sar.Status.Allowed != tc.allowed {
			t.Errorf("%s %s/%s/%s: allowed = %v, want %v", tc.verb, tc.group, tc.resource, tc.sub, sar.Status.Allowed, tc.allowed)
		}
	}
}
