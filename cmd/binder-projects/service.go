package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/binder-projects/binder-projects/projects"
	"github.com/binder-projects/binder-projects/service"
)

const serviceUsage = `usage: binder-projects projects-service [flags]

Runs the projects service: a JupyterHub external service (hub.services.<name> with a url) that users
reach at /services/<name>/ through the hub's proxy. Its page lists a user's projects, deletes one and
launches repositories on BinderHub; its API is GET and DELETE {prefix}api/users/{user}/projects[/{folder}].

It asks the hub whether a user's server runs (its token needs the scope read:servers, the
projects-service role of docs/projects-service.md) and reads and updates only the user's claim
(--claim-name-template); it reads no pods.

It reads the hub's settings from the environment JupyterHub gives a service; for an external service,
set them in its Deployment:
  JUPYTERHUB_API_TOKEN        the service's api_token from hub.services (required)
  JUPYTERHUB_API_URL          the hub's API, e.g. http://hub:8081/hub/api (required)
  JUPYTERHUB_SERVICE_NAME     the service's name (default: from the prefix)
  JUPYTERHUB_SERVICE_PREFIX   its URL prefix (default: <base URL>services/<name>/)
  JUPYTERHUB_BASE_URL         the hub's base URL (default: /)
  JUPYTERHUB_CLIENT_ID        its OAuth client id (default: service-<name>)
  JUPYTERHUB_OAUTH_CALLBACK_URL  its OAuth redirect URI (default: {prefix}oauth_callback)

Flags:
`

// projectsService is `binder-projects projects-service`. It serves until ctx ends.
func projectsService(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer, newClient kubeClientFunc) int {
	o := newServiceOptions(getenv)
	fs := newFlagSet("projects-service", serviceUsage, stderr)
	o.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "binder-projects projects-service: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if err := o.Validate(); err != nil {
		fmt.Fprintf(stderr, "binder-projects projects-service: %v\n", err)
		return 2
	}
	cfg, err := service.FromEnv(getenv)
	if err != nil {
		fmt.Fprintf(stderr, "binder-projects projects-service: %v\n", err)
		return 2
	}
	log := newLogger(stderr, o.Verbosity)
	c, ns, err := newClient(o.Kubeconfig)
	if err != nil {
		log.Error(err, "cannot reach the Kubernetes API")
		return 1
	}
	if o.Namespace != "" {
		ns = o.Namespace
	}
	if ns == "" {
		fmt.Fprintln(stderr, "binder-projects projects-service: no namespace: give the hub's namespace with --namespace")
		return 2
	}
	// Least privilege: the hub says whether a user's server runs (no pods are read), and only the
	// user's own claim is read.
	cfg.Store = &projects.KubeStore{Client: c, Namespace: ns, Servers: service.HubServers(cfg),
		ClaimName: func(user string) (string, error) { return o.Claims.ClaimName(user, "") }}
	cfg.BinderHubURL = o.BinderHubURL
	cfg.ExpireAfter = o.ExpireAfter
	cfg.TrashDays = o.TrashDays
	cfg.Log = log
	srv, err := service.New(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "binder-projects projects-service: %v\n", err)
		return 2
	}
	if o.BinderHubURL == "" {
		log.Info("no --binderhub-url: the page will have no launch links or form")
	}

	l, err := net.Listen("tcp", o.Listen)
	if err != nil {
		log.Error(err, "cannot listen", "address", o.Listen)
		return 1
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	done := make(chan error, 1)
	go func() { done <- hs.Serve(l) }()
	log.Info("serving the projects service", "address", l.Addr().String(), "prefix", srv.Prefix(), "namespace", ns)
	select {
	case err := <-done:
		log.Error(err, "the server stopped")
		return 1
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdown); err != nil {
		log.Error(err, "shutting down")
		return 1
	}
	return 0
}

// runProjectsService runs the service with the process's environment until SIGINT or SIGTERM.
func runProjectsService(ctx context.Context, args []string, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	return projectsService(ctx, args, os.Getenv, stderr, kubeClient)
}
