// Package v1alpha1 contains the VideoSession API: one temporary consultation
// room for one appointment between a therapist and one invited client.
//
// +kubebuilder:object:generate=true
// +groupName=video.sprechzimmer.dev
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of this API.
	GroupVersion = schema.GroupVersion{Group: "video.sprechzimmer.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the API's types with a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the API's types to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &VideoSession{}, &VideoSessionList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
