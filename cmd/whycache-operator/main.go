// Command whycache-operator runs the whycache operator: it reconciles
// WhycacheInstance objects into node agent DaemonSets and scheduled
// snapshot and history-rewrite Jobs (see package controllers).
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/whycache/whycache/controllers"
	"github.com/whycache/whycache/internal/version"
	"github.com/whycache/whycache/internal/webhook/podinject"
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
	enableWebhook := flag.Bool("enable-webhook", true, "serve the pod webhook that mounts instance directories into the pods labelled "+podinject.LabelInstance)
	wo := podinject.Options{}
	flag.StringVar(&wo.Host, "webhook-host", "", "address the pod webhook listens on (default: every address)")
	flag.IntVar(&wo.Port, "webhook-port", 9443, "port of the pod webhook")
	flag.StringVar(&wo.CertDir, "webhook-cert-dir", "/tmp/k8s-webhook-server/serving-certs", "directory of the webhook's tls.crt and tls.key (reloaded when they change)")
	certMode := flag.String("webhook-cert-mode", string(podinject.CertModeSelf), "self: the manager makes and renews the webhook certificate into --webhook-cert-secret and patches the caBundle; external: the certificate is mounted and its CA injected by something else (cert-manager)")
	flag.StringVar(&wo.SecretName, "webhook-cert-secret", "whycache-webhook-server-cert", "Secret of the self-made webhook certificate (mounted at --webhook-cert-dir)")
	flag.StringVar(&wo.SecretNamespace, "webhook-cert-secret-namespace", podinject.PodNamespace(), "namespace of --webhook-cert-secret and --webhook-service-name (default: $POD_NAMESPACE, else the pod's)")
	flag.StringVar(&wo.ConfigName, "webhook-config-name", "whycache-mutating-webhook-configuration", "MutatingWebhookConfiguration whose caBundle the self mode keeps")
	flag.StringVar(&wo.ServiceName, "webhook-service-name", "whycache-webhook-service", "Service of the webhook (the self-made certificate's DNS names)")
	extraNames := flag.String("webhook-cert-extra-dns-names", "", "more DNS names for the self-made certificate, comma-separated (a webhook configuration that reaches the manager by URL)")
	zo := zap.Options{}
	zo.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zo)))
	log := ctrl.Log.WithName("setup")

	cfg, err := ctrl.GetConfig()
	if err != nil {
		fail(err)
	}
	// The signal handler cancels the context on SIGTERM; the manager then
	// stops its controllers, releases the lease and returns.
	ctx := ctrl.SetupSignalHandler()
	mgr, err := controllers.NewManager(cfg, o)
	if err != nil {
		fail(err)
	}
	if *enableWebhook {
		if wo.CertMode, err = podinject.ParseCertMode(*certMode); err != nil {
			fail(err)
		}
		wo.DefaultImage = o.AgentImage
		if *extraNames != "" {
			wo.ExtraDNSNames = strings.Split(*extraNames, ",")
		}
		if err := podinject.Setup(ctx, mgr, wo); err != nil {
			fail(err)
		}
	}
	log.Info("starting manager", "version", version.Get(), "agentImage", o.AgentImage, "webhook", *enableWebhook, "webhookCertMode", *certMode)
	if err := mgr.Start(ctx); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "whycache-operator:", err)
	os.Exit(1)
}
