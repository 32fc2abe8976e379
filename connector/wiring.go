package connector

import (
	"fmt"
	"log/slog"
	"zohosink/connector/config"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/sr"

	"zohosink/schema"
	"zohosink/zoho"
)

// NewZohoClient builds the Zoho client of a config, with its metrics on reg.
// The client retries transient trouble until the write's context ends: the
// pipeline decides when to give up (shutdown), never the client.
func NewZohoClient(cfg *config.Config, reg prometheus.Registerer, log *slog.Logger, extra ...zoho.Opt) (*zoho.Client, error) {
	z := cfg.Zoho
	opts := []zoho.Opt{
		zoho.WithDataCenter(z.DataCenter),
		zoho.WithEnvironment(z.Environment),
		zoho.WithCredentials(z.ClientID, z.ClientSecret.Reveal(), z.RefreshToken.Reveal()),
		zoho.WithEdition(z.Edition),
		zoho.WithMaxConcurrency(z.MaxConcurrency),
		zoho.WithDailyCreditBudget(z.DailyCreditBudget),
		zoho.WithRequestsPerSecond(z.RequestsPerSecond),
		zoho.WithRequestTimeout(z.RequestTimeout.D()),
		zoho.WithMaxRetries(-1),
		zoho.WithLogger(log),
	}
	if z.APIDomain != "" {
		opts = append(opts, zoho.WithAPIDomain(z.APIDomain))
	}
	if z.AccountsURL != "" {
		opts = append(opts, zoho.WithAccountsURL(z.AccountsURL))
	}
	if reg != nil {
		opts = append(opts, zoho.WithMetrics(zoho.NewMetrics(reg)))
	}
	opts = append(opts, extra...)
	c, err := zoho.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("zoho: %w", err)
	}
	return c, nil
}

// NewDecoders builds the decoder of every sync of a config, by sync name:
// one per value format (auto, avro, json), sharing one schema registry
// client and its credentials.
func NewDecoders(cfg *config.Config) (map[string]Decoder, error) {
	var reg *sr.Client
	if cfg.SchemaRegistry.URL != "" {
		opts := []sr.ClientOpt{sr.URLs(cfg.SchemaRegistry.URL)}
		if cfg.SchemaRegistry.Username != "" {
			opts = append(opts, sr.BasicAuth(cfg.SchemaRegistry.Username, cfg.SchemaRegistry.Password.Reveal()))
		}
		var err error
		if reg, err = sr.NewClient(opts...); err != nil {
			return nil, fmt.Errorf("schema_registry.url: %w", err)
		}
	}
	byFormat := map[string]Decoder{}
	out := map[string]Decoder{}
	for i := range cfg.Syncs {
		f := cfg.Syncs[i].Format
		if byFormat[f] == nil {
			var opts []schema.Option
			if reg != nil {
				opts = append(opts, schema.WithRegistry(reg))
			}
			switch f {
			case "avro":
				opts = append(opts, schema.WithFormat(schema.FormatAvro))
			case "json":
				opts = append(opts, schema.WithFormat(schema.FormatJSON))
			}
			d, err := schema.NewDecoder(opts...)
			if err != nil {
				return nil, fmt.Errorf("syncs[%d].format: %w", i, err)
			}
			byFormat[f] = d
		}
		out[cfg.Syncs[i].Name] = byFormat[f]
	}
	return out, nil
}
