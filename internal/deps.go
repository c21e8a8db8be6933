// Package internal anchors dependencies that later packages use, so that the
// module graph stays stable while they are written. Remove an import once a
// real package uses it.
package internal

import (
	_ "github.com/cenkalti/backoff/v4"
	_ "github.com/elastic/go-elasticsearch/v8"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/schollz/progressbar/v3"
	_ "github.com/twmb/franz-go/pkg/kfake"
	_ "go.uber.org/goleak"
	_ "go.yaml.in/yaml/v3"
	_ "golang.org/x/term"
	_ "golang.org/x/time/rate"
	_ "github.com/IBM/sarama"
)
