package controller

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

var registryRepairs = prometheus.NewCounter(prometheus.CounterOpts{
	Name: "binder_projects_registry_repairs_total",
	Help: "Claims whose projects registry did not parse and was written anew after a successful launch (the bad value kept in a -corrupt annotation).",
})

var projectsExpired = prometheus.NewCounter(prometheus.CounterOpts{
	Name: "binder_projects_projects_expired_total",
	Help: "Projects deleted (their folders queued for the trash) by the expiry controller, not used for --expire-projects-after.",
})

func init() {
	metrics.Registry.MustRegister(registryRepairs, projectsExpired)
}
