//go:build tools

package main

import (
	_ "github.com/linkedin/goavro/v2"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/prometheus/client_golang/prometheus/promhttp"
	_ "github.com/prometheus/client_golang/prometheus/testutil"
	_ "github.com/twmb/franz-go/pkg/kadm"
	_ "github.com/twmb/franz-go/pkg/kfake"
	_ "github.com/twmb/franz-go/pkg/kgo"
	_ "github.com/twmb/franz-go/pkg/kmsg"
	_ "github.com/twmb/franz-go/pkg/sasl/plain"
	_ "github.com/twmb/franz-go/pkg/sasl/scram"
	_ "github.com/twmb/franz-go/pkg/sr"
	_ "github.com/twmb/franz-go/pkg/sr/srfake"
	_ "go.yaml.in/yaml/v3"
	_ "golang.org/x/oauth2"
	_ "golang.org/x/time/rate"
)

func main() {}
