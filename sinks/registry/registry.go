// Package registry maps a sink type name, as a configuration spells it, to
// the sink package that builds it. It is the one package besides the
// command that imports the concrete sinks: the bridge and replay take a
// constructor (New) instead, so a new sink is added here and in config,
// and nowhere in the pipeline.
package registry

import (
	"fmt"
	"log/slog"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/sinks"
	"github.com/siembridge/siembridge/sinks/elasticsearch"
	"github.com/siembridge/siembridge/sinks/file"
	"github.com/siembridge/siembridge/sinks/null"
	"github.com/siembridge/siembridge/sinks/splunkhec"
	"github.com/siembridge/siembridge/sinks/syslog"
	"github.com/siembridge/siembridge/sinks/webhook"
)

// New builds the sink a route's configuration names. The caller closes
// it.
func New(c config.Sink, log *slog.Logger) (sinks.Sink, error) {
	switch c.Type {
	case "elasticsearch":
		if c.Elasticsearch == nil {
			return nil, fmt.Errorf("elasticsearch: missing settings")
		}
		return elasticsearch.New(*c.Elasticsearch, elasticsearch.WithLogger(log))
	case "splunk_hec":
		if c.SplunkHEC == nil {
			return nil, fmt.Errorf("splunk_hec: missing settings")
		}
		return splunkhec.New(*c.SplunkHEC, splunkhec.WithLogger(log))
	case "file":
		if c.File == nil {
			return nil, fmt.Errorf("file: missing settings")
		}
		return file.New(*c.File, file.WithLogger(log))
	case "syslog":
		if c.Syslog == nil {
			return nil, fmt.Errorf("syslog: missing settings")
		}
		return syslog.New(*c.Syslog, syslog.WithLogger(log))
	case "webhook":
		if c.Webhook == nil {
			return nil, fmt.Errorf("webhook: missing settings")
		}
		return webhook.New(*c.Webhook, webhook.WithLogger(log))
	case "null":
		return null.New(), nil
	}
	return nil, fmt.Errorf("type %q is not supported", c.Type)
}

// Types lists the sink types New builds.
func Types() []string {
	return []string{"elasticsearch", "splunk_hec", "syslog", "webhook", "file", "null"}
}
