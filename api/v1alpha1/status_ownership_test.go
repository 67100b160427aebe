package v1alpha1

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"sigs.k8s.io/yaml"
)

// operatorStatusFields are the status fields only the operator writes. A
// new status field goes either here or into RoomStatusFields, and into the
// room policy's roomFields if it is the room's.
var operatorStatusFields = []string{
	"phase", "conditions", "opensAt", "expiresAt", "openedAt",
	"url", "linksSecretName", "observedGeneration",
}

// statusFields returns the JSON names of VideoSessionStatus's fields.
func statusFields(t *testing.T) []string {
	t.Helper()
	var names []string
	typ := reflect.TypeFor[VideoSessionStatus]()
	for f := range typ.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			t.Fatalf("status field %s has no JSON name", f.Name)
		}
		names = append(names, name)
	}
	return names
}

// TestEveryStatusFieldHasAnOwner: each status field is the room's or the
// operator's, never both, never neither.
func TestEveryStatusFieldHasAnOwner(t *testing.T) {
	fields := statusFields(t)
	for _, f := range fields {
		room, operator := slices.Contains(RoomStatusFields, f), slices.Contains(operatorStatusFields, f)
		switch {
		case room && operator:
			t.Errorf("status.%s is listed as both the room's and the operator's", f)
		case !room && !operator:
			t.Errorf("status.%s has no owner: add it to RoomStatusFields (and the room policy) or to operatorStatusFields", f)
		}
	}
	for _, f := range slices.Concat(RoomStatusFields, operatorStatusFields) {
		if !slices.Contains(fields, f) {
			t.Errorf("%q is listed as a status field, but VideoSessionStatus has no such field", f)
		}
	}
}

// TestRoomPolicyAllowsExactlyTheRoomFields reads the room policy as
// config/default installs it and compares its allow-list, and the message a
// refused room sees, with RoomStatusFields.
func TestRoomPolicyAllowsExactlyTheRoomFields(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "config", "policy", "room_status_policy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	policyDoc, _, _ := strings.Cut(string(raw), "\n---\n")
	policy := &admissionregistrationv1.ValidatingAdmissionPolicy{}
	if err := yaml.UnmarshalStrict([]byte(policyDoc), policy); err != nil {
		t.Fatal(err)
	}
	if policy.Kind != "ValidatingAdmissionPolicy" {
		t.Fatalf("the first document of the policy file is a %s", policy.Kind)
	}
	var allowList string
	for _, v := range policy.Spec.Variables {
		if v.Name == "roomFields" {
			allowList = v.Expression
		}
	}
	if allowList == "" {
		t.Fatal("the room policy has no variable roomFields")
	}
	var allowed []string
	for _, m := range regexp.MustCompile(`"([A-Za-z]+)"`).FindAllStringSubmatch(allowList, -1) {
		allowed = append(allowed, m[1])
	}
	if want := "[" + `"` + strings.Join(allowed, `", "`) + `"` + "]"; strings.TrimSpace(allowList) != want {
		t.Fatalf("roomFields is %q, want a plain list of field names like %q", allowList, want)
	}
	if !slices.Equal(sorted(allowed), sorted(RoomStatusFields)) {
		t.Errorf("the room policy allows %v, RoomStatusFields are %v", allowed, RoomStatusFields)
	}
	var message string
	for _, v := range policy.Spec.Validations {
		if strings.Contains(v.Expression, "variables.roomFields") {
			message = v.Message
		}
	}
	for _, f := range RoomStatusFields {
		if !strings.Contains(message, "status."+f) {
			t.Errorf("the refusal message %q does not name status.%s", message, f)
		}
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
