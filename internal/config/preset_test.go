package config

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestAgentPreset(t *testing.T) {
	kv, err := AgentPreset([]byte("[waptwua]\nenabled = True\ninstall_delay = 7d\n"), "preset.ini")
	if err != nil || len(kv) != 2 || kv[0] != (KeyValue{"enabled", "True"}) || kv[1] != (KeyValue{"install_delay", "7d"}) {
		t.Fatalf("AgentPreset: %+v, %v", kv, err)
	}
	for ini, want := range map[string]string{
		"[waptwua]\ninstall_delay = 3x\n":        "install_delay",
		"[waptwua]\ninstal_delay = 3d\n":         `unknown key "instal_delay"`,
		"[global]\nwapt_server = https://srv\n":  "only [waptwua]",
		"[waptwua]\nfilter = a\n  b\n":           "filter",
		"[waptwua]\nallowed_kbs = KB1,\n  KB2\n": "multi-line",
		"[waptwua]\nenabled = True\n[DEFAULT]\n": "only [waptwua]",
	} {
		if _, err := AgentPreset([]byte(ini), "preset.ini"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error containing %q", ini, err, want)
		}
	}
}

func TestAgentDataDirAndTransport(t *testing.T) {
	a, err := ParseAgent([]byte("[global]\nwapt_server = http://srv\ndata_dir = data\n"), filepath.Join("/opt/wapt", "wapt-get.ini"))
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join("/opt/wapt", "data"); a.Global.DataDir != want {
		t.Errorf("DataDir = %q, want %q", a.Global.DataDir, want)
	}
	if err := a.CheckTransport("server", "http://srv"); err == nil || !strings.Contains(err.Error(), "allow_insecure_http = True") {
		t.Errorf("CheckTransport(http) = %v", err)
	}
	if err := a.CheckTransport("server", "https://srv"); err != nil {
		t.Errorf("CheckTransport(https) = %v", err)
	}
	a.Global.AllowInsecureHTTP = true
	if err := a.CheckTransport("server", "http://srv"); err != nil {
		t.Errorf("CheckTransport(http, allowed) = %v", err)
	}
}
