// Command whycache-operator runs the whycache operator: it reconciles
// WhycacheInstance objects into node agent DaemonSets and scheduled
// snapshot and history-rewrite Jobs (see package controllers).
package main

import (
	"flag"
	"fmt"
	"os"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/whycache/whycache/controllers"
	"github.com/whycache/whycache/internal/version"
)

func main() {
	var o controllers.ManagerOptions
	flag.StringVar(&o.MetricsAddr, "metrics-bind-address", ":8080", "address of the metrics endpoint (0 disables)")
	flag.StringVar(&o.ProbeAddr, "health-probe-bind-address", ":8081", "address of /healthz and /readyz (0 disables)")
	flag.BoolVar(&o.LeaderElection, "leader-elect", true, "elect a leader, so that only one replica reconciles")
	flag.StringVar(&o.LeaderElectionNamespace, "leader-election-namespace", "", "namespace of the leader lease (default: the pod's)")
	flag.StringVar(&o.AgentImage, "agent-image", "ghcr.io/whycache/whycache:"+version.Get(), "default image of the node agents and Jobs")
	flag.DurationVar(&o.StorePollInterval, "store-poll-interval", controllers.DefaultStorePollInterval, "how often each instance's log store is read for the status")
	flag.DurationVar(&o.StoreTimeout, "store-timeout", controllers.DefaultStoreTimeout, "bound on one read of a log store")
	zo := zap.Options{}
	zo.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zo)))
	log := ctrl.Log.WithName("setup")

	cfg, err := ctrl.GetConfig()
	if err != nil {
		fail(err)
	}
	mgr, err := controllers.NewManager(cfg, o)
	if err != nil {
		fail(err)
	}
	log.Info("starting manager", "version", version.Get(), "agentImage", o.AgentImage)
	// The signal handler cancels the context on SIGTERM; the manager then
	// stops its controllers, releases the lease and returns.
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "whycache-operator:", err)
	os.Exit(1)
}
