package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"
)

// ProjectsServicePort is where StartProjectsService serves, on 127.0.0.1.
const ProjectsServicePort = 9450

// ProjectsServiceURL is the projects service's base URL on the host (its API is under the prefix the
// hub gave it, e.g. /services/projects/).
func (c *Cluster) ProjectsServiceURL() string {
	return "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(ProjectsServicePort))
}

// ProjectsServiceLog is the projects service's stdout and stderr (appended over restarts).
func (c *Cluster) ProjectsServiceLog() string { return c.logPath("projects-service") }

// StartProjectsService runs `binder-projects projects-service` (the binary StartWebhook built) on the
// host against the cluster, on ProjectsServiceURL, with env (the JUPYTERHUB_* variables a hub gives a
// service), and waits until its /healthz answers. It is stopped by StopProjectsService or with the
// cluster.
func (c *Cluster) StartProjectsService(ctx context.Context, env []string, namespace string) error {
	if c.webhook == nil {
		return errors.New("the binder-projects binary is built by StartWebhook, which has not run")
	}
	env = append([]string{"KUBECONFIG=" + c.Kubeconfig()}, env...)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ProjectsServicePort))
	p, err := c.start("projects-service", env, c.webhook.bin, "projects-service", "--listen", addr, "--namespace", namespace)
	if err != nil {
		return err
	}
	return waitFor(ctx, 30*time.Second, "the projects service's /healthz on "+addr, aliveCheck(p, c.ProjectsServiceLog(), func() (bool, error) {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return false, err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false, fmt.Errorf("/healthz: %s", resp.Status)
		}
		return true, nil
	}))
}

// StopProjectsService stops the projects service.
func (c *Cluster) StopProjectsService() error {
	c.mu.Lock()
	p := c.procs["projects-service"]
	c.mu.Unlock()
	return stopRecorded(c.l, "projects-service", p, 10*time.Second)
}
