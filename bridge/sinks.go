package bridge

import (
	"fmt"
	"log/slog"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/sinks"
	"github.com/siembridge/siembridge/sinks/elasticsearch"
	"github.com/siembridge/siembridge/sinks/null"
)

// NewSink builds the sink a route's configuration names.
func NewSink(c config.Sink, log *slog.Logger) (sinks.Sink, error) {
	switch c.Type {
	case "elasticsearch":
		if c.Elasticsearch == nil {
			return nil, fmt.Errorf("elasticsearch: missing settings")
		}
		return elasticsearch.New(*c.Elasticsearch, elasticsearch.WithLogger(log))
	case "null":
		return null.New(), nil
	}
	return nil, fmt.Errorf("type %q is not supported", c.Type)
}
