package podinject

import "errors"

// The reasons a pod is denied; the denial's message wraps one of them.
var (
	// ErrConflict: the pod already has a volume, a mount, an environment
	// variable or a container under a name that the injection uses, and it
	// is not what the injection would put there.
	ErrConflict = errors.New("conflicts with the whycache injection")
	// ErrNoInstance: the pod names a WhycacheInstance that its namespace
	// does not have.
	ErrNoInstance = errors.New("no such WhycacheInstance")
	// ErrBadAnnotation: a whycache annotation of the pod has a value that
	// means nothing.
	ErrBadAnnotation = errors.New("invalid whycache annotation")
)
