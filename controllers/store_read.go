package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	whycachev1 "github.com/whycache/whycache/api/v1alpha1"
)

// readStore returns the instance's last store reading, reading the store
// again when the poll interval has passed.
func (r *Reconciler) readStore(ctx context.Context, inst *whycachev1.WhycacheInstance, now time.Time) storeReading {
	key := client.ObjectKeyFromObject(inst)
	last, due := r.poller().due(key, now)
	if !due {
		return last
	}
	var reading storeReading
	if url, err := r.storeURL(ctx, inst); err != nil {
		reading = storeReading{At: now, Err: err}
	} else {
		reading = r.poller().read(ctx, url, logName(inst), now)
	}
	r.poller().record(key, reading)
	return reading
}

// storeURL reads the log store URL from the instance's Secret.
func (r *Reconciler) storeURL(ctx context.Context, inst *whycachev1.WhycacheInstance) (string, error) {
	ref := inst.Spec.LogStore.URLSecretRef
	var s corev1.Secret
	if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: inst.Namespace, Name: ref.Name}, &s); err != nil {
		if apierrors.IsNotFound(err) {
			return "", fmt.Errorf("%w: Secret %s not found", errSecret, ref.Name)
		}
		return "", fmt.Errorf("%w: get Secret %s: %w", errSecret, ref.Name, err)
	}
	v, ok := s.Data[secretKey(ref)]
	if !ok || len(v) == 0 {
		return "", fmt.Errorf("%w: Secret %s has no key %q", errSecret, ref.Name, secretKey(ref))
	}
	return string(v), nil
}
