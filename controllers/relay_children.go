package controllers

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	whycachev1 "github.com/whycache/whycache/api/v1alpha1"
)

// reconcileRelay decides about the instance's relay tier (see planRelay)
// from the relay Deployment and Service it has, its TLS Secret and the
// agents' DaemonSet as it is, and applies the relay's Deployment and
// Service when the spec asks for them. It returns the plan and what the
// status reports of the relays.
func (r *Reconciler) reconcileRelay(ctx context.Context, inst *whycachev1.WhycacheInstance, agents *appsv1.DaemonSet) (relayPlan, relayObserved, error) {
	obs := relayObserved{Wanted: inst.Spec.Relay != nil}
	var dep appsv1.Deployment
	hasDep, err := r.getOwned(ctx, inst, &dep)
	if err != nil {
		return relayPlan{}, obs, err
	}
	if hasDep {
		obs.Deployment = &dep
	}
	hasSvc, err := r.getOwned(ctx, inst, &corev1.Service{})
	if err != nil {
		return relayPlan{}, obs, err
	}
	if obs.Wanted {
		if obs.TLSProblem, err = r.readRelayTLS(ctx, inst); err != nil {
			return relayPlan{}, obs, err
		}
	}
	plan := planRelay(relayInput{
		Wanted: obs.Wanted, Exists: hasDep || hasSvc,
		Ready:         hasDep && dep.Status.AvailableReplicas > 0,
		TLSUsable:     obs.TLSProblem == nil,
		AgentsOnRelay: agentsOnRelay(agents), AgentsRolledOut: rolledOut(agents),
	})
	if plan.Apply {
		if err := r.apply(ctx, inst, desiredRelayDeployment(inst, Image(inst, r.AgentImage))); err != nil {
			return plan, obs, err
		}
		if err := r.apply(ctx, inst, desiredRelayService(inst)); err != nil {
			return plan, obs, err
		}
	}
	return plan, obs, nil
}

// getOwned reads the instance's relay object of obj's kind into obj, and
// reports whether it exists and the instance controls it (an object of
// that name that another owner has is left alone).
func (r *Reconciler) getOwned(ctx context.Context, inst *whycachev1.WhycacheInstance, obj client.Object) (bool, error) {
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: inst.Namespace, Name: relayName(inst)}, obj)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("get relay %T: %w", obj, err)
	}
	return metav1.IsControlledBy(obj, inst), nil
}

// removeRelay deletes the instance's relay Deployment and Service.
func (r *Reconciler) removeRelay(ctx context.Context, inst *whycachev1.WhycacheInstance) error {
	for _, obj := range []client.Object{&appsv1.Deployment{}, &corev1.Service{}} {
		owned, err := r.getOwned(ctx, inst, obj)
		if err != nil {
			return err
		}
		if !owned {
			continue
		}
		err = r.Client.Delete(ctx, obj, client.Preconditions{UID: ptr.To(obj.GetUID())}, client.PropagationPolicy(metav1.DeletePropagationBackground))
		if client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("delete relay %T: %w", obj, err)
		}
		r.Recorder.Eventf(inst, obj, corev1.EventTypeNormal, "RelayRemoved", "DeleteRelay",
			"deleted the relay's %T %s: every agent opens the log store again", obj, obj.GetName())
	}
	return nil
}
