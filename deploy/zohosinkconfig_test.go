package deploy_test

import (
	"errors"
	"strings"
	"zohosink/connector/config"
)

// checkZohosinkConfig loads a config shipped in deploy/ with the real loader
// and validator, given the environment the deployment provides: any unknown
// key, unset variable or invalid value is a problem, in zohosink's own words.
// It returns nil when the config does not load.
func checkZohosinkConfig(r *report, name string, data []byte, env map[string]string) *config.Config {
	cfg, err := config.Parse(data, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		r.errorf("%s: not a valid zohosink config: %v", name, err)
		return nil
	}
	if err := cfg.Validate(); err != nil {
		var ve *config.ValidationError
		if errors.As(err, &ve) {
			lines := make([]string, len(ve.Problems))
			for i, p := range ve.Problems {
				lines[i] = p.String()
			}
			r.errorf("%s: not a valid zohosink config:\n  %s", name, strings.Join(lines, "\n  "))
			return nil
		}
		r.errorf("%s: %v", name, err)
		return nil
	}
	return cfg
}
