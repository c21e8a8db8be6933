package budget

import (
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/siembridge/siembridge/internal/fake/kafkatest"
)

func TestNearRetention(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_000_000, 0)
	week := 7 * 24 * time.Hour
	tests := []struct {
		name      string
		age, kept time.Duration
		near      bool
	}{
		{"young", time.Hour, week, false},
		{"just under 80%", week*8/10 - time.Second, week, false},
		{"at 80%", week * 8 / 10, week, true},
		{"past retention", 2 * week, week, true},
		{"kept forever", 100 * week, 0, false},
	}
	for _, tt := range tests {
		if got := NearRetention(now.Add(-tt.age), now, tt.kept); got != tt.near {
			t.Errorf("%s: %v", tt.name, got)
		}
	}
	if NearRetention(time.Time{}, now, week) {
		t.Error("no timestamp is near retention")
	}
}

func TestRetention(t *testing.T) {
	t.Parallel()
	c, err := kafkatest.Start(1, []string{"short", "forever", "default"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	admin, err := sarama.NewClusterAdmin(c.Brokers(), kafkatest.Config())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	for topic, ms := range map[string]string{"short": "3600000", "forever": "-1"} {
		if err := admin.AlterConfig(sarama.TopicResource, topic, map[string]*string{"retention.ms": &ms}, false); err != nil {
			t.Fatal(err)
		}
	}
	got, err := Retention(admin, []string{"short", "forever", "default"})
	if err != nil {
		t.Fatal(err)
	}
	if got["short"] != time.Hour || got["forever"] != 0 || got["default"] != 7*24*time.Hour || len(got) != 3 {
		t.Fatalf("retention %v", got)
	}
}
