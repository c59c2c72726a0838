package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
)

// RelaySpec asks for a relay tier between the log store and the agents:
// a Deployment of `whycache relay` pods that tail the store once and serve
// the log to every agent, behind a Service. The agents then open
// relay://<name>-relay.<namespace>.svc:<port> instead of the store, so
// that the database sees a few connections whatever the number of nodes.
type RelaySpec struct {
	// replicas is the number of relay pods. Agents move to another relay
	// when theirs goes; two or more keep the log served through a rollout
	// or a node failure.
	// +kubebuilder:default=2
	// +kubebuilder:validation:XValidation:rule="self >= 1",message="relay.replicas must be at least 1 (remove the relay section to run without a relay)"
	// +kubebuilder:validation:XValidation:rule="self <= 50",message="relay.replicas must be at most 50 (each relay holds its own connections to the database)"
	// +optional
	Replicas int32 `json:"replicas,omitempty"`

	// resources of the relay container. GOMEMLIMIT is set to 90% of the
	// memory limit when there is one.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`

	// tokenSecretRef names the Secret key that holds the bearer token
	// which the agents must present to the relay. The Secret is mounted
	// into the relay pods and the agent pods. Without it the relay takes
	// any client that reaches its Service (restrict it with a
	// NetworkPolicy).
	// +optional
	TokenSecretRef *TokenSecretRef `json:"tokenSecretRef,omitempty"`

	// tls makes the relays serve TLS with a certificate from a Secret, and
	// the agents verify it with the CA from the same Secret. Without it
	// the relays serve cleartext HTTP/2 (h2c) inside the cluster.
	// +optional
	TLS *RelayTLS `json:"tls,omitempty"`

	// port is the relay's port, in its pods and on its Service.
	// +kubebuilder:default=7480
	// +kubebuilder:validation:XValidation:rule="self >= 1024 && self <= 65535",message="relay.port must be from 1024 to 65535 (the relay runs as a non-root user)"
	// +optional
	Port int32 `json:"port,omitempty"`
}

// TokenSecretRef names the key of a Secret in the instance's namespace
// that holds a token.
type TokenSecretRef struct {
	// name is the Secret's name.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	// +required
	Name string `json:"name"`

	// key is the key inside the Secret.
	// +kubebuilder:default=token
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	// +optional
	Key string `json:"key,omitempty"`
}

// RelayTLS names the Secret that holds the relays' serving certificate and
// the CA that the agents trust.
type RelayTLS struct {
	// secretName is the name of a Secret of type kubernetes.io/tls in the
	// instance's namespace, such as the one a cert-manager Certificate
	// writes. Its tls.crt and tls.key are mounted into the relay pods only;
	// its CA certificate (caKey) is mounted into the agent pods, which
	// verify the relays with it. The certificate must name the relay
	// Service, <instance name>-relay.<namespace>.svc, and chain to that CA.
	// The relays load a renewed certificate without a restart. The agents
	// move onto the relay only once the operator has checked the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$')",message="relay.tls.secretName must be a Secret name: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"
	// +required
	SecretName string `json:"secretName"`

	// caKey is the key of the Secret that holds the certificate (or a
	// bundle of certificates, PEM) of the CA that signed the relays'
	// certificate. cert-manager writes it as ca.crt.
	// +kubebuilder:default="ca.crt"
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[-._a-zA-Z0-9]+$')",message="relay.tls.caKey must be a Secret key: letters, digits, '-', '_' and '.'"
	// +kubebuilder:validation:XValidation:rule="self != 'tls.key'",message="relay.tls.caKey must name the CA certificate, not the private key tls.key: the CA is mounted into every agent pod"
	// +optional
	CAKey string `json:"caKey,omitempty"`
}
