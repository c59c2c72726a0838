package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// JobPolicy says how a scheduled Job runs; it is shared by snapshots and
// history rewrites.
type JobPolicy struct {
	// suspend stops new runs; a running Job finishes.
	// +kubebuilder:default=false
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// startingDeadlineSeconds is how late a run may start: a run missed by
	// more (the operator was down, or the previous run still going) is
	// skipped and counted in the status.
	// +kubebuilder:default=300
	// +kubebuilder:validation:Minimum=10
	// +kubebuilder:validation:Maximum=86400
	// +optional
	StartingDeadlineSeconds int64 `json:"startingDeadlineSeconds,omitempty"`

	// successfulJobsHistoryLimit is how many finished successful Jobs are kept.
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +optional
	SuccessfulJobsHistoryLimit int32 `json:"successfulJobsHistoryLimit,omitempty"`

	// failedJobsHistoryLimit is how many failed Jobs are kept.
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +optional
	FailedJobsHistoryLimit int32 `json:"failedJobsHistoryLimit,omitempty"`

	// activeDeadlineSeconds bounds one run.
	// +kubebuilder:default=3600
	// +kubebuilder:validation:Minimum=60
	// +optional
	ActiveDeadlineSeconds int64 `json:"activeDeadlineSeconds,omitempty"`
}

// SnapshotSpec says where snapshots go and when they are taken.
//
// +kubebuilder:validation:XValidation:rule="!has(self.pathStyle) || !self.pathStyle || has(self.endpoint)",message="pathStyle needs an endpoint (path-style addressing is for S3-compatible servers)"
type SnapshotSpec struct {
	// bucket is the S3 bucket.
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9][a-z0-9.-]*[a-z0-9]$`
	// +required
	Bucket string `json:"bucket"`

	// prefix is the key prefix inside the bucket; snapshots go under
	// <prefix>/<log id>/.
	// +kubebuilder:default=whycache
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:Pattern=`^[^/].*[^/]$|^[^/]$`
	// +optional
	Prefix string `json:"prefix,omitempty"`

	// region is the S3 region; empty uses the SDK's default chain.
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[a-z0-9-]*$`
	// +optional
	Region string `json:"region,omitempty"`

	// endpoint is the URL of an S3-compatible server; empty means AWS.
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:Pattern=`^https?://[^\s?#]+$`
	// +optional
	Endpoint string `json:"endpoint,omitempty"`

	// pathStyle addresses objects as <endpoint>/<bucket>/<key> (most
	// S3-compatible servers need it).
	// +kubebuilder:default=false
	// +optional
	PathStyle bool `json:"pathStyle,omitempty"`

	// credentialsSecretRef names a Secret with the keys AWS_ACCESS_KEY_ID
	// and AWS_SECRET_ACCESS_KEY. Without it the SDK's default chain is used
	// (for example IRSA through serviceAccount.annotations).
	// +optional
	CredentialsSecretRef *corev1.LocalObjectReference `json:"credentialsSecretRef,omitempty"`

	// schedule is when snapshots are taken, in cron syntax: five fields or
	// a descriptor such as @hourly, optionally after CRON_TZ=<zone> (UTC
	// otherwise). The pattern checks the shape; what only a cron parser
	// can catch is reported as Ready=False with reason InvalidSpec.
	// +kubebuilder:default="0 * * * *"
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^(CRON_TZ=[A-Za-z0-9_+/-]+ +)?(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|[0-9*,/?LW#A-Za-z-]+( +[0-9*,/?LW#A-Za-z-]+){4})$`
	// +optional
	Schedule string `json:"schedule,omitempty"`

	// retention is how many snapshots are kept in the bucket.
	// +kubebuilder:default=5
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	// +optional
	Retention int32 `json:"retention,omitempty"`

	// JobPolicy says how the snapshot Jobs run.
	JobPolicy `json:",inline"`
}

// HistoryRewriteSpec says when the log's history is rewritten.
type HistoryRewriteSpec struct {
	// schedule is when history rewrites run, in cron syntax (as
	// snapshots.schedule).
	// +kubebuilder:default="30 3 * * *"
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^(CRON_TZ=[A-Za-z0-9_+/-]+ +)?(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|[0-9*,/?LW#A-Za-z-]+( +[0-9*,/?LW#A-Za-z-]+){4})$`
	// +optional
	Schedule string `json:"schedule,omitempty"`

	// nodeGoneAfter is the heartbeat age after which a node counts as
	// gone: its progress no longer holds back the rewrite's safe limit.
	// +kubebuilder:default="1h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1m')",message="nodeGoneAfter must be at least 1m"
	// +optional
	NodeGoneAfter *metav1.Duration `json:"nodeGoneAfter,omitempty"`

	// JobPolicy says how the rewrite Jobs run.
	JobPolicy `json:",inline"`
}

// LogLevel is the node agent's log verbosity.
// +kubebuilder:validation:Enum=info;debug;trace
type LogLevel string

// The log levels.
const (
	// LogLevelInfo logs what an operator needs to know.
	LogLevelInfo LogLevel = "info"
	// LogLevelDebug adds detail about each sync.
	LogLevelDebug LogLevel = "debug"
	// LogLevelTrace adds everything.
	LogLevelTrace LogLevel = "trace"
)

// AgentSpec configures the node agent DaemonSet.
type AgentSpec struct {
	// hostPathBase is the host directory under which each instance gets
	// <namespace>/<name>/ (the cache file, the write socket and a private
	// directory for the writer's lock).
	// +kubebuilder:default="/var/lib/whycache"
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:Pattern=`^/[A-Za-z0-9._/-]*[A-Za-z0-9._-]$`
	// +kubebuilder:validation:XValidation:rule="!self.contains('/../') && !self.endsWith('/..')",message="hostPathBase must not contain '..'"
	// +optional
	HostPathBase string `json:"hostPathBase,omitempty"`

	// nodeSelector selects the nodes that run the agent.
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`

	// tolerations let the agent run on tainted nodes.
	// +listType=atomic
	// +optional
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`

	// resources of the agent container. GOMEMLIMIT is set to 90% of the
	// memory limit when there is one.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`

	// priorityClassName of the agent pods (for example
	// system-node-critical, so that nodes keep their agent under pressure).
	// +kubebuilder:validation:MaxLength=253
	// +optional
	PriorityClassName string `json:"priorityClassName,omitempty"`

	// image overrides the operator's default image for the agent and the
	// Jobs.
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:Pattern=`^\S+$`
	// +optional
	Image string `json:"image,omitempty"`

	// imagePullPolicy of the agent and the Jobs.
	// +kubebuilder:validation:Enum=Always;IfNotPresent;Never
	// +optional
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy,omitempty"`

	// logLevel is the agent's log verbosity.
	// +kubebuilder:default=info
	// +optional
	LogLevel LogLevel `json:"logLevel,omitempty"`

	// maxLag is the age of the oldest unapplied update above which a node
	// is not ready.
	// +kubebuilder:default="30s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s')",message="maxLag must be at least 1s"
	// +optional
	MaxLag *metav1.Duration `json:"maxLag,omitempty"`

	// maxLagIDs is the number of unapplied updates above which a node is
	// not ready, and counts as lagging in the status.
	// +kubebuilder:default=10000
	// +kubebuilder:validation:Minimum=1
	// +optional
	MaxLagIDs int64 `json:"maxLagIDs,omitempty"`

	// writes configures the agent's write API (the Unix socket in the
	// instance directory).
	// +optional
	Writes WritesSpec `json:"writes,omitempty"`

	// terminationGracePeriodSeconds is how long an agent has to close its
	// file cleanly after SIGTERM.
	// +kubebuilder:default=60
	// +kubebuilder:validation:Minimum=10
	// +kubebuilder:validation:Maximum=3600
	// +optional
	TerminationGracePeriodSeconds int64 `json:"terminationGracePeriodSeconds,omitempty"`
}

// WritesSpec configures the agent's write API: who may write through the
// socket, and how much the agent takes on at once.
//
// +kubebuilder:validation:XValidation:rule="!has(self.socketGroup) || (has(self.socketMode) && self.socketMode.endsWith('0'))",message="socketGroup limits the writers only with a socketMode that gives others nothing, such as 0660"
type WritesSpec struct {
	// socketMode is the socket's permission bits, in octal. The default,
	// 0666, lets every pod that mounts the instance directory write; 0660
	// with socketGroup lets only the pods that run with that group (in
	// their supplementalGroups or runAsGroup) write, and the others read.
	// +kubebuilder:validation:Pattern=`^0?[0-7]{3}$`
	// +optional
	SocketMode string `json:"socketMode,omitempty"`

	// socketGroup is the numeric id of the group that owns the socket.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=2147483647
	// +optional
	SocketGroup *int64 `json:"socketGroup,omitempty"`

	// maxInFlightBytes bounds the request bytes the agent holds at once,
	// across all writers (more wait, then get 503); the agent's memory for
	// writes stays under about three times this. Default 64 MiB.
	// +kubebuilder:validation:Minimum=1048576
	// +kubebuilder:validation:Maximum=17179869184
	// +optional
	MaxInFlightBytes int64 `json:"maxInFlightBytes,omitempty"`

	// maxConnections bounds the open connections to the write API (more
	// wait in the kernel's backlog). Default 256.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65536
	// +optional
	MaxConnections int32 `json:"maxConnections,omitempty"`

	// timeout bounds one write request, including its wait for room and
	// for the local apply. Default 30s.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s') && duration(self) <= duration('1h')",message="writes.timeout must be between 1s and 1h"
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`
}

// LimitsSpec bounds what one update may hold.
//
// +kubebuilder:validation:XValidation:rule="!has(self.maxKeySize) || !has(self.maxValueSize) || !has(self.maxUpdateSize) || self.maxKeySize + self.maxValueSize <= self.maxUpdateSize",message="maxUpdateSize must hold at least one key of maxKeySize and one value of maxValueSize"
type LimitsSpec struct {
	// maxKeySize is the largest key, in bytes.
	// +kubebuilder:default=65536
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=16777216
	// +optional
	MaxKeySize int64 `json:"maxKeySize,omitempty"`

	// maxValueSize is the largest value, in bytes.
	// +kubebuilder:default=16777216
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1073741824
	// +optional
	MaxValueSize int64 `json:"maxValueSize,omitempty"`

	// maxUpdateSize is the largest sum of key and value lengths in one
	// update, in bytes.
	// +kubebuilder:default=67108864
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=2147483647
	// +optional
	MaxUpdateSize int64 `json:"maxUpdateSize,omitempty"`
}

// ServiceAccountSpec configures the instance's ServiceAccount.
type ServiceAccountSpec struct {
	// annotations are added to the ServiceAccount (for example
	// eks.amazonaws.com/role-arn for S3 access through IRSA).
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}
