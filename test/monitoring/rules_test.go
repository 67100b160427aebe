package monitoring

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// alertRule is one alert of the PrometheusRule.
type alertRule struct {
	Alert       string            `json:"alert"`
	Expr        string            `json:"expr"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

// ruleGroups are the PrometheusRule's spec: Prometheus's rule file format.
type ruleGroups struct {
	Groups []struct {
		Name  string      `json:"name"`
		Rules []alertRule `json:"rules"`
	} `json:"groups"`
}

// rules reads config/prometheus/rules.yaml: its spec, as a Prometheus rule
// file, and the alerts in it.
func rules(t *testing.T) ([]byte, []alertRule) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repo(t), "config", "prometheus", "rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var whole struct {
		Spec map[string]any `json:"spec"`
	}
	var typed struct {
		Spec ruleGroups `json:"spec"`
	}
	if err := errors.Join(yaml.Unmarshal(raw, &whole), yaml.Unmarshal(raw, &typed)); err != nil {
		t.Fatalf("config/prometheus/rules.yaml: %v", err)
	}
	spec, err := yaml.Marshal(whole.Spec)
	if err != nil {
		t.Fatal(err)
	}
	var alerts []alertRule
	for _, g := range typed.Spec.Groups {
		alerts = append(alerts, g.Rules...)
	}
	return spec, alerts
}

// TestAlertRules runs the rules' unit tests (config/prometheus/tests) with
// promtool: each alert fires on its failure and stays silent on the normal
// case next to it.
func TestAlertRules(t *testing.T) {
	promtool := need(t, "promtool", "Debian's prometheus package, .ci/run")
	spec, _ := rules(t)
	dir := t.TempDir()
	tests, err := os.ReadFile(filepath.Join(repo(t), "config", "prometheus", "tests", "rules_test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"rules.yaml": spec, "rules_test.yaml": tests} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	check := exec.Command(promtool, "check", "rules", filepath.Join(dir, "rules.yaml"))
	if out, err := check.CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	run := exec.Command(promtool, "test", "rules", filepath.Join(dir, "rules_test.yaml"))
	if out, err := run.CombinedOutput(); err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
}

// TestEveryAlertIsTestedAndHasARunbook: every alert has a promtool case
// where it fires and one where it does not, a severity, a summary and a
// description, and a runbook_url pointing at its own section of
// docs/monitoring.md.
func TestEveryAlertIsTestedAndHasARunbook(t *testing.T) {
	_, alerts := rules(t)
	raw, err := os.ReadFile(filepath.Join(repo(t), "config", "prometheus", "tests", "rules_test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var tests struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string `json:"alertname"`
				ExpAlerts []any  `json:"exp_alerts"`
			} `json:"alert_rule_test"`
		} `json:"tests"`
	}
	if err := yaml.Unmarshal(raw, &tests); err != nil {
		t.Fatal(err)
	}
	fires, silent := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				silent[a.Alertname] = true
			}
		}
	}
	docs, err := os.ReadFile(filepath.Join(repo(t), "docs", "monitoring.md"))
	if err != nil {
		t.Fatal(err)
	}
	const runbooks = "https://github.com/sprechzimmer/sprechzimmer/blob/main/docs/monitoring.md#"
	for _, a := range alerts {
		if !fires[a.Alert] || !silent[a.Alert] {
			t.Errorf("%s: a test where it fires: %v, where it does not: %v; want both", a.Alert, fires[a.Alert], silent[a.Alert])
		}
		if s := a.Labels["severity"]; s != "critical" && s != "warning" {
			t.Errorf("%s: severity %q, want critical or warning", a.Alert, s)
		}
		for _, k := range []string{"summary", "description"} {
			if a.Annotations[k] == "" {
				t.Errorf("%s has no %s", a.Alert, k)
			}
		}
		if want := runbooks + strings.ToLower(a.Alert); a.Annotations["runbook_url"] != want {
			t.Errorf("%s: runbook_url %q, want %q", a.Alert, a.Annotations["runbook_url"], want)
		}
		if !strings.Contains(string(docs), "\n### "+a.Alert+"\n") {
			t.Errorf("docs/monitoring.md has no section \"### %s\"", a.Alert)
		}
	}
}
