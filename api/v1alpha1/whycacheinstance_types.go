package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// WhycacheInstance runs one whycache instance: a node agent on every
// selected node keeps the instance's cache file in
// <hostPathBase>/<namespace>/<name>/ up to date from the instance's log
// store, and Jobs take snapshots to S3 and rewrite the log's history on
// their schedules.
//
// The name is at most 40 characters so that the names of the Jobs derived
// from it (<name>-snapshot-<minute>) stay valid label values.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=wci;wcis,categories=whycache
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Latest",type=integer,JSONPath=`.status.latestUpdateID`,description="Latest update id in the log"
// +kubebuilder:printcolumn:name="Nodes",type=string,JSONPath=`.status.nodes.summary`,description="Nodes ready/desired"
// +kubebuilder:printcolumn:name="Snapshot",type=date,JSONPath=`.status.lastSnapshot.time`,description="Age of the last snapshot"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Horizon",type=integer,JSONPath=`.status.horizon`,priority=1
// +kubebuilder:printcolumn:name="Lagging",type=integer,JSONPath=`.status.nodes.lagging`,priority=1
// +kubebuilder:printcolumn:name="Slowest",type=string,JSONPath=`.status.nodes.slowestNode`,priority=1
// +kubebuilder:printcolumn:name="Snapshot-ID",type=integer,JSONPath=`.status.lastSnapshot.updateID`,priority=1
// +kubebuilder:printcolumn:name="Relay",type=string,JSONPath=`.status.conditions[?(@.type=="RelayAvailable")].status`,description="Whether a relay is available (spec.relay only)",priority=1
// +kubebuilder:printcolumn:name="Rewrite",type=date,JSONPath=`.status.lastRewrite.time`,priority=1
// +kubebuilder:printcolumn:name="Next-Snapshot",type=date,JSONPath=`.status.nextSnapshotTime`,priority=1
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 40",message="metadata.name must be at most 40 characters (Job names are derived from it)"
type WhycacheInstance struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the object's metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is what the instance should be.
	// +required
	Spec WhycacheInstanceSpec `json:"spec"`

	// status is what the operator last observed.
	// +optional
	Status WhycacheInstanceStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// WhycacheInstanceList is a list of WhycacheInstances.
type WhycacheInstanceList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the list's metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the instances.
	Items []WhycacheInstance `json:"items"`
}

// WhycacheInstanceSpec is the desired state of a WhycacheInstance.
//
// +kubebuilder:validation:XValidation:rule="!has(self.agent) || !has(self.agent.maxLag) || !has(self.historyRewrite) || !has(self.historyRewrite.nodeGoneAfter) || duration(self.agent.maxLag) < duration(self.historyRewrite.nodeGoneAfter)",message="agent.maxLag must be shorter than historyRewrite.nodeGoneAfter: a node that is merely behind must not count as gone"
type WhycacheInstanceSpec struct {
	// logStore is where the instance's log of updates lives.
	// +required
	LogStore LogStoreSpec `json:"logStore"`

	// snapshots, when set, makes the operator upload a snapshot of the
	// cache file to S3 on a schedule; nodes bootstrap from the newest one.
	// +optional
	Snapshots *SnapshotSpec `json:"snapshots,omitempty"`

	// historyRewrite says when to rewrite the log's history (remove
	// operations that a later operation of the same key overrides).
	// +kubebuilder:default={}
	// +optional
	HistoryRewrite HistoryRewriteSpec `json:"historyRewrite,omitempty"`

	// agent configures the node agent DaemonSet.
	// +kubebuilder:default={}
	// +optional
	Agent AgentSpec `json:"agent,omitempty"`

	// limits bound what one update may hold; the agents enforce them on
	// every write.
	// +kubebuilder:default={}
	// +optional
	Limits LimitsSpec `json:"limits,omitempty"`

	// serviceAccount configures the ServiceAccount that the agents and the
	// Jobs run as (for example an IRSA role annotation for S3 access).
	// +optional
	ServiceAccount ServiceAccountSpec `json:"serviceAccount,omitempty"`

	// relay, when set, runs a relay tier (a Deployment and a Service) that
	// tails the log store once and serves the log to the agents, which
	// then reach the store through it: the database sees the relays'
	// connections rather than one or two per node. Removing it points the
	// agents at the store again and removes the relays.
	// +optional
	Relay *RelaySpec `json:"relay,omitempty"`
}

// LogStoreSpec says where the log is and how to open it.
type LogStoreSpec struct {
	// urlSecretRef names the Secret key that holds the log store URL (a
	// directory path, mysql://... or postgres://...). The URL holds a
	// password, so it is never written in the spec.
	// +required
	URLSecretRef SecretKeyRef `json:"urlSecretRef"`

	// logName is the name of the log inside its store, so that one
	// database holds the logs of several instances.
	// +kubebuilder:default=default
	// +kubebuilder:validation:Pattern=`^[a-z][a-z0-9_]{0,39}$`
	// +kubebuilder:validation:MaxLength=40
	// +optional
	LogName string `json:"logName,omitempty"`

	// createLog lets the agents create the log when it does not exist;
	// otherwise they wait until it does.
	// +kubebuilder:default=false
	// +optional
	CreateLog bool `json:"createLog,omitempty"`
}

// SecretKeyRef names one key of a Secret in the instance's namespace.
type SecretKeyRef struct {
	// name is the Secret's name.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	// +required
	Name string `json:"name"`

	// key is the key inside the Secret.
	// +kubebuilder:default=url
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	// +optional
	Key string `json:"key,omitempty"`
}
