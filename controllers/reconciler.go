package controllers

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	whycachev1 "github.com/whycache/whycache/api/v1alpha1"
)

// Defaults of the Reconciler's settings.
const (
	// DefaultStorePollInterval is how often each instance's log store is read.
	DefaultStorePollInterval = 30 * time.Second
	// DefaultStoreTimeout bounds one read of a log store.
	DefaultStoreTimeout = 10 * time.Second
)

// Reconciler reconciles WhycacheInstance objects.
type Reconciler struct {
	// Client reads from the manager's cache and writes to the API server.
	Client client.Client
	// APIReader reads Secrets and Pods straight from the API server, so
	// that the operator keeps no cluster-wide cache of either.
	APIReader client.Reader
	// Recorder emits events about the instances.
	Recorder events.EventRecorder
	// Clock is the time source (a fake one in tests).
	Clock clock.PassiveClock
	// AgentImage is the image of the agents and Jobs, unless the spec
	// overrides it.
	AgentImage string
	// StorePollInterval and StoreTimeout: see the defaults.
	StorePollInterval, StoreTimeout time.Duration
	// OpenStore opens log stores; nil means backends.Open.
	OpenStore OpenStoreFunc

	once   sync.Once
	stores *storePoller
}

// +kubebuilder:rbac:groups=whycache.io,resources=whycacheinstances,verbs=get;list;watch
// +kubebuilder:rbac:groups=whycache.io,resources=whycacheinstances/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=whycache.io,resources=whycacheinstances/finalizers,verbs=update
// +kubebuilder:rbac:groups=apps,resources=daemonsets,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups="",resources=serviceaccounts,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get
// +kubebuilder:rbac:groups="",resources=pods,verbs=list
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings one instance's children in line with its spec, starts
// the scheduled Jobs that are due, and writes what it saw to the status.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var inst whycachev1.WhycacheInstance
	if err := r.Client.Get(ctx, req.NamespacedName, &inst); err != nil {
		if apierrors.IsNotFound(err) {
			r.poller().forget(req.NamespacedName)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("get instance: %w", err)
	}
	now := r.Clock.Now()
	snapSched, rewriteSched, specErr := parseSchedules(&inst)
	ds, relays, err := r.applyAgent(ctx, &inst)
	if err != nil {
		return ctrl.Result{}, err
	}
	jobs, err := r.listJobs(ctx, &inst)
	if err != nil {
		return ctrl.Result{}, err
	}
	in := statusInput{
		Now: now, Generation: inst.Generation, Old: inst.Status, SpecErr: specErr, DaemonSet: ds,
		MaxLagIDs: inst.Spec.Agent.MaxLagIDs, NodeGoneAfter: nodeGoneAfter(&inst),
		SnapshotsEnabled: inst.Spec.Snapshots != nil, Relay: relays,
	}
	if in.Snapshot, err = r.runSchedule(ctx, &inst, kindSnapshot, snapSched, jobs, now); err != nil {
		return ctrl.Result{}, err
	}
	if in.Rewrite, err = r.runSchedule(ctx, &inst, kindRewrite, rewriteSched, jobs, now); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.readResults(ctx, &inst, jobs, &in); err != nil {
		return ctrl.Result{}, err
	}
	in.Store = r.readStore(ctx, &inst, now)
	status := computeStatus(in)
	if !equality.Semantic.DeepEqual(inst.Status, status) {
		old := inst.Status
		inst.Status = status
		if err := r.Client.Status().Update(ctx, &inst); err != nil {
			return ctrl.Result{}, fmt.Errorf("update status: %w", err)
		}
		r.statusEvents(&inst, old, status)
	}
	if specErr != nil {
		// Retrying cannot fix the spec; an update of it triggers a new
		// reconcile.
		return ctrl.Result{}, reconcile.TerminalError(specErr)
	}
	return ctrl.Result{RequeueAfter: requeueAfter(now, r.pollInterval(),
		in.Snapshot.Decision.Next, in.Rewrite.Decision.Next, in.Store.At.Add(r.pollInterval()))}, nil
}

// parseSchedules parses the spec's cron schedules; a nil schedule has no
// runs. The CRD checks their shape; what only a parser can find (a minute
// of 61, an unknown time zone) makes the spec invalid.
func parseSchedules(inst *whycachev1.WhycacheInstance) (snap, rewrite cron.Schedule, err error) {
	if s := inst.Spec.Snapshots; s != nil {
		if snap, err = parseSchedule(s.Schedule); err != nil {
			return nil, nil, fmt.Errorf("spec.snapshots.schedule: %w", err)
		}
	}
	if rewrite, err = parseSchedule(inst.Spec.HistoryRewrite.Schedule); err != nil {
		return nil, nil, fmt.Errorf("spec.historyRewrite.schedule: %w", err)
	}
	return snap, rewrite, nil
}

func (r *Reconciler) pollInterval() time.Duration {
	if r.StorePollInterval > 0 {
		return r.StorePollInterval
	}
	return DefaultStorePollInterval
}

func (r *Reconciler) poller() *storePoller {
	r.once.Do(func() {
		timeout := r.StoreTimeout
		if timeout <= 0 {
			timeout = DefaultStoreTimeout
		}
		r.stores = newStorePoller(r.OpenStore, r.pollInterval(), timeout)
	})
	return r.stores
}

// ManagedBySelector selects the objects this operator manages.
var ManagedBySelector = labels.SelectorFromSet(labels.Set{labelManagedBy: managerName})

// CacheOptions restrict the manager's cache of the children's kinds to the
// objects this operator manages, so that it does not hold every
// DaemonSet, Deployment, Service, Job and ServiceAccount of the cluster.
func CacheOptions() cache.Options {
	by := cache.ByObject{Label: ManagedBySelector}
	return cache.Options{ByObject: map[client.Object]cache.ByObject{
		&appsv1.DaemonSet{}: by, &batchv1.Job{}: by, &corev1.ServiceAccount{}: by,
		&appsv1.Deployment{}: by, &corev1.Service{}: by,
	}}
}

// SetupWithManager registers the reconciler with mgr, watching the
// instances and the children they own.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&whycachev1.WhycacheInstance{}).
		Owns(&appsv1.DaemonSet{}).
		Owns(&corev1.ServiceAccount{}).
		Owns(&batchv1.Job{}).
		Owns(&appsv1.Deployment{}).
		Owns(&corev1.Service{}).
		Named("whycacheinstance").
		Complete(r)
}
