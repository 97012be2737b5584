package web

import (
	"context"
	"crypto/subtle"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "claw_http_requests_total", Help: "Portal HTTP requests by route pattern, method and status.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "claw_http_request_duration_seconds", Help: "Portal HTTP latency by route pattern and method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route", "method"}),
	}
	reg.MustRegister(m.requests, m.latency)
	// Registering twice (tests that share a registry) is harmless to skip.
	_ = reg.Register(collectors.NewGoCollector())
	_ = reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) observe(method, route string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route, method).Observe(d.Seconds())
}

func (s *Server) metricsHandler() fiber.Handler {
	h := adaptor.HTTPHandler(promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	want := []byte("Bearer " + s.opts.MetricsToken)
	return func(c *fiber.Ctx) error {
		if s.opts.MetricsToken != "" && subtle.ConstantTimeCompare([]byte(c.Get(fiber.HeaderAuthorization)), want) != 1 {
			c.Set(fiber.HeaderWWWAuthenticate, "Bearer")
			return c.Status(fiber.StatusUnauthorized).SendString("metrics need Authorization: Bearer <CLAW_METRICS_TOKEN>\n")
		}
		return h(c)
	}
}

func (s *Server) healthz(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"status": "ok"})
}

// readyz answers 503 naming every dependency that does not answer.
func (s *Server) readyz(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
	defer cancel()
	checks := append([]ReadyCheck{{Name: "database", Check: s.store.Ping}}, s.opts.ReadyChecks...)
	result := fiber.Map{}
	ok := true
	for _, ch := range checks {
		if err := ch.Check(ctx); err != nil {
			result[ch.Name] = err.Error()
			ok = false
		} else {
			result[ch.Name] = "ok"
		}
	}
	if !ok {
		c.Status(fiber.StatusServiceUnavailable)
		return c.JSON(fiber.Map{"status": "unavailable", "checks": result})
	}
	return c.JSON(fiber.Map{"status": "ok", "checks": result})
}
