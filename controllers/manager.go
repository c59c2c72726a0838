package controllers

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	whycachev1 "github.com/whycache/whycache/api/v1alpha1"
)

// ManagerOptions configure the operator's manager.
type ManagerOptions struct {
	// MetricsAddr serves Prometheus metrics ("0" disables).
	MetricsAddr string
	// ProbeAddr serves /healthz and /readyz ("0" disables).
	ProbeAddr string
	// LeaderElection makes only one replica reconcile at a time.
	LeaderElection bool
	// LeaderElectionNamespace holds the lease (default: the pod's namespace).
	LeaderElectionNamespace string
	// AgentImage is the default image of the agents and Jobs.
	AgentImage string
	// Clock is the reconciler's time source; nil means the real clock.
	Clock clock.PassiveClock
	// StorePollInterval and StoreTimeout: see Reconciler.
	StorePollInterval, StoreTimeout time.Duration
	// OpenStore opens log stores; nil means backends.Open.
	OpenStore OpenStoreFunc
}

// leaderElectionID names the operator's lease.
const leaderElectionID = "whycache-operator.whycache.io"

// NewScheme returns a scheme with the Kubernetes types and this API.
func NewScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(whycachev1.AddToScheme(s))
	return s
}

// NewManager returns a manager with the WhycacheInstance reconciler, health
// probes and metrics, ready to Start.
func NewManager(cfg *rest.Config, o ManagerOptions) (ctrl.Manager, error) {
	shutdown := 30 * time.Second
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        NewScheme(),
		Cache:                         CacheOptions(),
		Metrics:                       metricsserver.Options{BindAddress: o.MetricsAddr},
		HealthProbeBindAddress:        o.ProbeAddr,
		LeaderElection:                o.LeaderElection,
		LeaderElectionID:              leaderElectionID,
		LeaderElectionNamespace:       o.LeaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true,
		GracefulShutdownTimeout:       &shutdown,
	})
	if err != nil {
		return nil, fmt.Errorf("new manager: %w", err)
	}
	if o.ProbeAddr != "0" && o.ProbeAddr != "" {
		if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
			return nil, fmt.Errorf("add healthz: %w", err)
		}
		if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
			return nil, fmt.Errorf("add readyz: %w", err)
		}
	}
	clk := o.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	r := &Reconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder(managerName),
		Clock: clk, AgentImage: o.AgentImage, StorePollInterval: o.StorePollInterval, StoreTimeout: o.StoreTimeout,
		OpenStore: o.OpenStore,
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("set up the reconciler: %w", err)
	}
	return mgr, nil
}
