package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"

	"zohosink/zoho/zohotest"
)

const simUsage = `
zohosink zoho-sim [--listen ADDR] [--edition standard] [--latency-min 20ms --latency-max 80ms]
                  [--fault-429 0.05] [--fault-5xx 0.01] [--client-id ID --client-secret S --refresh-token T]

Runs the Zoho CRM simulator as a server: the token endpoint (/oauth/v2/token),
the browser consent page (/oauth/v2/auth), a stand-in for the API console's
Self Client page (` + zohotest.SelfClientPath + `?scope=...) and the CRM API
(/crm/v8/...) on one address, answering like Zoho CRM with its limits
(concurrency, credits), validation and error bodies. Point a config at it with
zoho.api_domain and zoho.accounts_url set to http://ADDR. Its org lives in
memory: a restart starts empty, with new credentials unless --client-id,
--client-secret and --refresh-token give them. No latency or faults unless
asked for.

Example:
  zohosink zoho-sim --listen 127.0.0.1:8090 --client-id demo-client-id \
    --client-secret demo-client-secret --refresh-token demo-refresh-token

  # a Self Client grant token, then the refresh token for it:
  curl 'http://127.0.0.1:8090` + zohotest.SelfClientPath + `?scope=ZohoCRM.modules.ALL,ZohoCRM.settings.fields.READ,ZohoCRM.coql.READ,ZohoCRM.settings.tags.READ'
  zohosink auth --accounts-url http://127.0.0.1:8090 --client-id demo-client-id \
    --client-secret demo-client-secret --grant-token 1000.xxxx.yyyy`

func cmdSim(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("zoho-sim", simUsage, stdout, stderr)
	listen := fs.String("listen", "127.0.0.1:8090", "address to serve on")
	edition := fs.String("edition", "standard", "free, standard, professional, enterprise or ultimate")
	users := fs.Int("users", 1, "licensed users, for the daily credit limit")
	credits := fs.Int("daily-credits", 0, "override the edition's daily credits")
	minLat := fs.Duration("latency-min", 0, "least time an API call takes")
	maxLat := fs.Duration("latency-max", 0, "most time an API call takes")
	fault5xx := fs.Float64("fault-5xx", 0, "probability that an API call answers 500")
	fault429 := fs.Float64("fault-429", 0, "probability that an API call answers 429")
	clientID := fs.String("client-id", "", "provision this client id (default: generated and printed)")
	clientSecret := fs.String("client-secret", "", "provision this client secret")
	refresh := fs.String("refresh-token", "", "provision this refresh token")
	if err := parse(fs, args); err != nil {
		return err
	}
	if !slices.Contains(zohotest.Editions(), *edition) {
		return &exitError{code: 2, err: fmt.Errorf("--edition %q: one of %s", *edition, strings.Join(zohotest.Editions(), ", "))}
	}
	opts := []zohotest.Option{zohotest.WithEdition(*edition), zohotest.WithUsers(*users)}
	if *credits > 0 {
		opts = append(opts, zohotest.WithDailyCredits(*credits))
	}
	if *maxLat > 0 {
		opts = append(opts, zohotest.WithLatency(*minLat, *maxLat))
	}
	if *clientID != "" || *clientSecret != "" || *refresh != "" {
		opts = append(opts, zohotest.WithCredentials(zohotest.Credentials{ClientID: *clientID, ClientSecret: *clientSecret, RefreshToken: *refresh}))
	}
	sim := zohotest.New(opts...)
	if *fault5xx > 0 {
		sim.SetFaultRate(zohotest.FaultInternalError, *fault5xx)
	}
	if *fault429 > 0 {
		sim.SetFaultRate(zohotest.FaultTooManyRequests, *fault429)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		if _, _, serr := net.SplitHostPort(*listen); serr != nil {
			return &exitError{code: 2, err: fmt.Errorf("--listen %q: want host:port, e.g. 127.0.0.1:8090", *listen)}
		}
		return fmt.Errorf("cannot listen on %s: %w (another process has the port? choose another with --listen)", *listen, errors.Unwrap(err))
	}
	addr := ln.Addr().String()
	c := sim.Credentials()
	fmt.Fprintf(stdout, "Zoho CRM simulator (%s edition) listening on %s\n  client_id: %s\n  client_secret: %s\n  refresh_token: %s\n  api_domain and accounts_url: http://%s\n  Self Client grant token: curl 'http://%s%s?scope=ZohoCRM.modules.ALL,ZohoCRM.settings.fields.READ,ZohoCRM.coql.READ,ZohoCRM.settings.tags.READ'\n",
		*edition, addr, c.ClientID, c.ClientSecret, c.RefreshToken, addr, addr, zohotest.SelfClientPath)
	err = sim.Serve(ctx, ln)
	if ctx.Err() != nil {
		return nil //nolint:nilerr // stopped by a signal: the server's error says only that
	}
	return err
}
