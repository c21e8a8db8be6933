package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/siembridge/siembridge/bridge"
	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/web"
)

// DefaultHost is bound when the listen address names no host: the
// endpoints carry no secret, but an operator opts in to exposing them.
const DefaultHost = "127.0.0.1"

// ServerConfig of a Server.
type ServerConfig struct {
	// Listen is host:port (config metrics.listen). With no host
	// (":9108") the server binds DefaultHost. Port 0 picks a free port
	// (see Server.Addr). Required.
	Listen string
	// Routes are the configured routes; /api/status reports their limits.
	// Only rate, batch and buffer settings are read, never a sink's
	// credentials. Optional.
	Routes []config.Route
	// Version reported by /api/status and by the version label of
	// siembridge_build_info. Default: the main module's version from the
	// build information, or "devel".
	Version string
	// HistoryWindow is how much history /api/history keeps, sampled once
	// per second. Default 5m.
	HistoryWindow time.Duration
}

// ServerOption customises a Server.
type ServerOption func(*Server)

// WithLogger sets the logger. Default: slog.Default().
func WithLogger(l *slog.Logger) ServerOption { return func(s *Server) { s.log = l } }

// Server serves, over plain HTTP:
//
//	/metrics      Prometheus exposition of the registry
//	/healthz      200 "ok" while every route can run, 503 with the reason
//	              while one cannot (its consumer group cannot be created)
//	/readyz       200 when the bridge is ready, else 503 and a one-line reason
//	/api/status   JSON Status: the bridge's Stats, server time, version, limits
//	/api/history  JSON History: per-route samples of the last minutes
//	/             the status page (package web)
//
// Create it with NewServer, which starts serving; Close must be called.
type Server struct {
	cfg    ServerConfig
	src    Source
	log    *slog.Logger
	ln     net.Listener
	http   *http.Server
	limits map[string]Limits
	hist   *history
	start  time.Time

	stopSampler context.CancelFunc
	wg          sync.WaitGroup
	closeOnce   sync.Once
	closeErr    error
}

// NewServer registers a Collector for src on reg, binds cfg.Listen and
// starts serving in its own goroutines. It does not block. It fails when
// the address cannot be bound or the collector cannot be registered.
// Close stops the server.
func NewServer(cfg ServerConfig, src Source, reg *prometheus.Registry, opts ...ServerOption) (*Server, error) {
	if src == nil || reg == nil {
		return nil, errors.New("metrics: NewServer needs a source and a registry")
	}
	build := ReadBuildInfo()
	if cfg.Version == "" {
		cfg.Version = build.Version
	}
	build.Version = cfg.Version
	if cfg.HistoryWindow <= 0 {
		cfg.HistoryWindow = 5 * time.Minute
	}
	addr, err := ListenAddr(cfg.Listen)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:    cfg,
		src:    src,
		log:    slog.Default(),
		limits: make(map[string]Limits, len(cfg.Routes)),
		hist:   newHistory(int(cfg.HistoryWindow/time.Second) + 1),
		start:  time.Now(),
	}
	for _, o := range opts {
		o(s)
	}
	for _, r := range cfg.Routes {
		s.limits[r.Name] = limitsOf(r)
	}
	if err := reg.Register(NewCollector(src)); err != nil {
		return nil, fmt.Errorf("metrics: registering the stats collector: %w", err)
	}
	if err := reg.Register(newBuildInfoGauge(build)); err != nil {
		return nil, fmt.Errorf("metrics: registering siembridge_build_info: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics.listen: %w", err)
	}
	s.ln = ln

	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:            slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		MaxRequestsInFlight: 4,
	}))
	mux.HandleFunc("GET /healthz", s.serveHealth)
	mux.HandleFunc("GET /readyz", s.serveReady)
	mux.HandleFunc("GET /api/status", s.serveStatus)
	mux.HandleFunc("GET /api/history", s.serveHistory)
	mux.Handle("GET /{$}", web.Handler())
	s.http = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}

	ctx, cancel := context.WithCancel(context.Background())
	s.stopSampler = cancel
	s.hist.add(time.Now(), src.Stats())
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("metrics server stopped", "addr", s.Addr(), "err", err)
		}
	}()
	go func() {
		defer s.wg.Done()
		s.sample(ctx)
	}()
	return s, nil
}

// ListenAddr returns the address NewServer binds for listen: listen with
// DefaultHost when it names no host.
func ListenAddr(listen string) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("metrics.listen: %q is not host:port", listen)
	}
	if host == "" {
		host = DefaultHost
	}
	return net.JoinHostPort(host, port), nil
}

// Addr returns the address the server listens on, with the port chosen
// when Listen asked for port 0.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops accepting connections and waits for the requests in flight
// and the server's goroutines, bounded by ctx: when ctx ends first, the
// remaining connections are closed and ctx's error is returned. Safe to
// call more than once; later calls return the first result.
func (s *Server) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		s.stopSampler()
		err := s.http.Shutdown(ctx)
		if err != nil {
			// Requests still in flight: cut their connections.
			_ = s.http.Close()
		}
		s.wg.Wait()
		s.closeErr = err
	})
	return s.closeErr
}

// sample records the bridge's counters once per second for /api/history.
func (s *Server) sample(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s.hist.add(now, s.src.Stats())
		}
	}
}

// serveHealth answers 200 while every route can run, 503 with the reason
// while one cannot (its consumer group cannot be created): a restart may
// help, and an orchestrator should know.
func (s *Server) serveHealth(w http.ResponseWriter, _ *http.Request) {
	for _, r := range s.src.Stats().Routes {
		if r.RunError != "" {
			plain(w, http.StatusServiceUnavailable, fmt.Sprintf("route %s cannot run: %s", r.Name, r.RunError))
			return
		}
	}
	plain(w, http.StatusOK, "ok")
}

func (s *Server) serveReady(w http.ResponseWriter, _ *http.Request) {
	if s.src.Ready() {
		plain(w, http.StatusOK, "ready")
		return
	}
	reason := NotReadyReason(s.src.Stats())
	if reason == "" {
		reason = "not ready"
	}
	plain(w, http.StatusServiceUnavailable, reason)
}

// NotReadyReason explains in one line why st is not ready; "" when it is.
func NotReadyReason(st bridge.Stats) string {
	if st.Ready {
		return ""
	}
	if !st.Running {
		return "bridge not running: connecting to Kafka or shutting down"
	}
	for _, r := range st.Routes {
		if r.SinkState != "up" {
			msg := fmt.Sprintf("route %s: sink %s is %s", r.Name, r.Sink, r.SinkState)
			if r.SinkReason != "" {
				msg += " (" + r.SinkReason + ")"
			}
			return msg
		}
	}
	for _, r := range st.Routes {
		if !r.Joined {
			return fmt.Sprintf("route %s: not a member of consumer group %s", r.Name, r.Group)
		}
	}
	return "not ready"
}

// Status is the body of /api/status.
type Status struct {
	// Time on the server when the snapshot was taken.
	Time time.Time `json:"time"`
	// Started is when the server started; a change means a new process.
	Started time.Time `json:"started"`
	Version string    `json:"version"`
	Ready   bool      `json:"ready"`
	// NotReady is the reason /readyz gives, empty when ready.
	NotReady string        `json:"not_ready,omitempty"`
	Routes   []RouteStatus `json:"routes"`
}

// RouteStatus is one route's bridge.RouteStats plus its configured limits.
type RouteStatus struct {
	bridge.RouteStats
	// Limits configured for the route; nil when the server was not given
	// the route's configuration.
	Limits *Limits `json:"limits,omitempty"`
}

// Limits are a route's configured pacing and bounds. Rates are per second;
// 0 means unlimited.
type Limits struct {
	Topics                 []string `json:"topics"`
	EventsPerSecond        float64  `json:"events_per_second"`
	BytesPerSecond         int64    `json:"bytes_per_second"`
	CatchupEventsPerSecond float64  `json:"catchup_events_per_second"`
	CatchupBytesPerSecond  int64    `json:"catchup_bytes_per_second"`
	CatchupLag             int64    `json:"catchup_lag"`
	Burst                  int      `json:"burst"`
	Adaptive               bool     `json:"adaptive"`
	AdaptiveFloor          float64  `json:"adaptive_floor"`
	BatchMaxEvents         int      `json:"batch_max_events"`
	BatchMaxBytes          int64    `json:"batch_max_bytes"`
	BatchMaxWaitSeconds    float64  `json:"batch_max_wait_seconds"`
	BufferMaxEvents        int      `json:"buffer_max_events"`
	BufferMaxBytes         int64    `json:"buffer_max_bytes"`
	Workers                int      `json:"workers"`
}

// limitsOf copies the non-secret pacing settings of r. Fields are picked
// one by one so that nothing of the sink section (URLs with credentials,
// tokens, headers) can ever reach the API.
func limitsOf(r config.Route) Limits {
	return Limits{
		Topics:                 append([]string(nil), r.Topics...),
		EventsPerSecond:        r.Rate.EventsPerSecond,
		BytesPerSecond:         int64(r.Rate.BytesPerSecond),
		CatchupEventsPerSecond: r.Rate.CatchupEventsPerSecond,
		CatchupBytesPerSecond:  int64(r.Rate.CatchupBytesPerSecond),
		CatchupLag:             r.Rate.CatchupLag,
		Burst:                  r.Rate.Burst,
		Adaptive:               r.Rate.Adaptive == nil || *r.Rate.Adaptive,
		AdaptiveFloor:          r.Rate.AdaptiveFloor,
		BatchMaxEvents:         r.Batch.MaxEvents,
		BatchMaxBytes:          int64(r.Batch.MaxBytes),
		BatchMaxWaitSeconds:    r.Batch.MaxWait.Seconds(),
		BufferMaxEvents:        r.Buffer.MaxEvents,
		BufferMaxBytes:         int64(r.Buffer.MaxBytes),
		Workers:                r.Workers,
	}
}

// Status builds the /api/status body from a fresh snapshot.
func (s *Server) Status() Status {
	st := s.src.Stats()
	out := Status{
		Time:     time.Now().UTC(),
		Started:  s.start.UTC(),
		Version:  s.cfg.Version,
		Ready:    st.Ready,
		NotReady: NotReadyReason(st),
		Routes:   make([]RouteStatus, 0, len(st.Routes)),
	}
	for _, r := range st.Routes {
		rs := RouteStatus{RouteStats: r}
		if l, ok := s.limits[r.Name]; ok {
			rs.Limits = &l
		}
		if rs.Partitions == nil {
			rs.Partitions = []bridge.PartitionStats{}
		}
		out.Routes = append(out.Routes, rs)
	}
	return out
}

func (s *Server) serveStatus(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, s.Status())
}

func (s *Server) serveHistory(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, s.hist.snapshot())
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		plain(w, http.StatusInternalServerError, "encoding: "+err.Error())
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(append(b, '\n'))
}

func plain(w http.ResponseWriter, status int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(msg + "\n"))
}
