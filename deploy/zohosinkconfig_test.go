package deploy_test

import (
	"errors"
	"strings"
	"testing"

	"zohosink/connector"
)

// checkZohosinkConfig loads a config shipped in deploy/ with the real loader
// and validator, given the environment the deployment provides: any unknown
// key, unset variable or invalid value fails the test with zohosink's own
// message.
func checkZohosinkConfig(t *testing.T, name string, data []byte, env map[string]string) *connector.Config {
	t.Helper()
	cfg, err := connector.Parse(data, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatalf("%s: not a valid zohosink config: %v", name, err)
	}
	if err := cfg.Validate(); err != nil {
		var ve *connector.ValidationError
		if errors.As(err, &ve) {
			lines := make([]string, len(ve.Problems))
			for i, p := range ve.Problems {
				lines[i] = p.String()
			}
			t.Fatalf("%s: not a valid zohosink config:\n  %s", name, strings.Join(lines, "\n  "))
		}
		t.Fatalf("%s: %v", name, err)
	}
	return cfg
}
