package webhook

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

var (
	admissions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "binder_projects_admissions_total",
		Help: "Pod admission requests handled, by outcome (mutated, skipped, invalid, denied, malformed, error).",
	}, []string{"outcome"})
	latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "binder_projects_admission_duration_seconds",
		Help:    "Time to decide a pod admission request, by outcome.",
		Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1},
	}, []string{"outcome"})
	planFallbacks = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "binder_projects_plan_patch_fallbacks_total",
		Help: "Admissions whose mutation the plan patch does not cover, answered with controller-runtime's diff instead.",
	})
	corruptRegistries = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "binder_projects_registry_corrupt_total",
		Help: "Admissions that found a projects registry annotation on the user's claim that does not parse; the launch went on with what parsed.",
	})
)

func init() {
	metrics.Registry.MustRegister(admissions, latency, planFallbacks, corruptRegistries)
}
