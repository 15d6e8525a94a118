package config

import (
	"strings"
	"testing"
)

func TestServerPackageSigning(t *testing.T) {
	s, err := ParseServer([]byte("[options]\npackage_signing_key = /etc/waptserver/rules.key\npackage_signing_cert = /etc/waptserver/rules.crt\n"+
		"package_signing_key_password_file = /etc/waptserver/rules.pass\n"), "waptserver.ini")
	if err != nil {
		t.Fatal(err)
	}
	if s.PackageSigningKey != "/etc/waptserver/rules.key" || s.PackageSigningCert != "/etc/waptserver/rules.crt" ||
		s.PackageSigningKeyPasswordFile != "/etc/waptserver/rules.pass" || len(s.Warnings) != 0 {
		t.Errorf("got %+v", s)
	}
	s, err = ParseServer([]byte("[options]\n"), "waptserver.ini")
	if err != nil || s.PackageSigningKey != "" || s.PackageSigningCert != "" {
		t.Errorf("default: %+v, %v", s, err)
	}
	for _, tt := range []struct{ desc, text, want string }{
		{"key alone", "package_signing_key = /k.pem",
			`waptserver.ini [options] package_signing_key = "/k.pem": package_signing_key and package_signing_cert go together`},
		{"cert alone", "package_signing_cert = /c.pem",
			`waptserver.ini [options] package_signing_cert = "/c.pem": package_signing_key and package_signing_cert go together`},
		{"password without key", "package_signing_key_password_file = /p",
			`waptserver.ini [options] package_signing_key_password_file = "/p": set only with package_signing_key`},
	} {
		t.Run(tt.desc, func(t *testing.T) {
			_, err := ParseServer([]byte("[options]\n"+tt.text+"\n"), "waptserver.ini")
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("error = %v\nwant prefix %q", err, tt.want)
			}
		})
	}
}
