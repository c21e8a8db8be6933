package budget

import (
	"fmt"
	"strconv"
	"time"

	"github.com/IBM/sarama"
)

// RetentionWarnShare: deferred events are warned about once they are
// older than this share of their topic's retention (within 20 % of being
// deleted by Kafka before they are sent).
const RetentionWarnShare = 0.8

// Retention returns each topic's retention.ms as a duration; 0 means the
// topic keeps its records forever (retention.ms -1).
func Retention(admin sarama.ClusterAdmin, topics []string) (map[string]time.Duration, error) {
	out := make(map[string]time.Duration, len(topics))
	for _, t := range topics {
		entries, err := admin.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: t, ConfigNames: []string{"retention.ms"}})
		if err != nil {
			return nil, fmt.Errorf("retention of %s: %w", t, err)
		}
		for _, e := range entries {
			if e.Name != "retention.ms" {
				continue
			}
			ms, err := strconv.ParseInt(e.Value, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("retention of %s: retention.ms %q: %w", t, e.Value, err)
			}
			out[t] = time.Duration(max(ms, 0)) * time.Millisecond
		}
	}
	return out, nil
}

// NearRetention reports whether a record written at ts is, at now, older
// than RetentionWarnShare of retention (0: kept forever, never near).
func NearRetention(ts, now time.Time, retention time.Duration) bool {
	if retention <= 0 || ts.IsZero() {
		return false
	}
	return now.Sub(ts) >= time.Duration(float64(retention)*RetentionWarnShare)
}
