# The real JupyterHub the projects service's tests run against (service/hubtest starts it).
#
# Everything a deployment would get from the z2jh/BinderHub chart values comes from the values that
# docs/projects-service.md tells operators to set: the harness reads that document's values block and
# passes its `jupyterhub.hub` part here as JSON, and this file applies it the way z2jh's own
# jupyterhub_config.py does (hub.services and hub.loadRoles are dicts keyed by name; hub.config is set
# as is). So the tests prove the documented values, not a copy of them.
#
# What only a test needs: loopback ports, a state folder, the dummy authenticator (no system accounts),
# the simple local spawner running Debian's jupyterhub-singleuser, and one more service, "harness",
# whose token the tests use to create users and tokens and to start and stop servers.
import json
import os

c = get_config()  # noqa: F821 (JupyterHub's config loader defines it)
env = os.environ


def need(name):
    value = env.get(name)
    if not value:
        raise SystemExit(f"jupyterhub_config.py: {name} is not set (service/hubtest sets it)")
    return value


state = need("BINDER_PROJECTS_HUB_STATE")
base_url = need("BINDER_PROJECTS_HUB_BASE_URL")
values = json.loads(need("BINDER_PROJECTS_HUB_VALUES"))  # the documented jupyterhub.hub values

# Loopback only: the proxy's public and API ports, and the hub's own port.
c.JupyterHub.bind_url = f"http://127.0.0.1:{need('BINDER_PROJECTS_HUB_PROXY_PORT')}{base_url}"
c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{need('BINDER_PROJECTS_HUB_PORT')}"
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{need('BINDER_PROJECTS_HUB_PROXY_API_PORT')}"
c.ConfigurableHTTPProxy.pid_file = os.path.join(state, "proxy.pid")
c.ConfigurableHTTPProxy.debug = True
# CONFIGPROXY_AUTH_TOKEN (the proxy's API token) comes from the environment.

c.JupyterHub.db_url = "sqlite:///" + os.path.join(state, "jupyterhub.sqlite")
c.JupyterHub.cookie_secret_file = os.path.join(state, "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = os.path.join(state, "jupyterhub.pid")
c.JupyterHub.cleanup_servers = True
c.JupyterHub.cleanup_proxy = True
c.JupyterHub.log_level = env.get("BINDER_PROJECTS_HUB_LOG_LEVEL", "INFO")

# Any user name logs in with the harness's password; hub admins are the harness's to name.
c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = need("BINDER_PROJECTS_HUB_PASSWORD")
c.Authenticator.admin_users = set(json.loads(env.get("BINDER_PROJECTS_HUB_ADMINS", "[]")))

# Servers are local processes of Debian's jupyterhub-singleuser (the classic notebook server).
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = os.path.join(state, "home", "{username}")
c.Spawner.cmd = ["/usr/bin/jupyterhub-singleuser"]
c.Spawner.ip = "127.0.0.1"
c.Spawner.start_timeout = 60
c.Spawner.http_timeout = 60
if os.geteuid() == 0:
    c.Spawner.args = ["--allow-root"]

# The documented values, applied as z2jh applies them.
c.JupyterHub.services = []
for name, service in values.get("services", {}).items():
    service = dict(service)
    service.setdefault("name", name)
    service.pop("apiToken", None)
    c.JupyterHub.services.append(service)
c.JupyterHub.load_roles = []
for name, role in values.get("loadRoles", {}).items():
    role = dict(role)
    role.setdefault("name", name)
    c.JupyterHub.load_roles.append(role)
for app, traits in values.get("config", {}).items():
    for trait, value in traits.items():
        setattr(c[app], trait, value)

# What the chart would add: the projects service's token (z2jh generates it and keeps it in the hub's
# Secret) and its URL (the Deployment's Service; here the harness's listener).
services = {s["name"]: s for s in c.JupyterHub.services}
projects = services[need("BINDER_PROJECTS_HUB_SERVICE_NAME")]
projects["api_token"] = need("BINDER_PROJECTS_HUB_SERVICE_TOKEN")
projects["url"] = need("BINDER_PROJECTS_HUB_SERVICE_URL")

# Scopes a test gives the projects service beyond the documented values.
service_scopes = json.loads(env.get("BINDER_PROJECTS_HUB_SERVICE_SCOPES", "[]"))
if service_scopes:
    c.JupyterHub.load_roles.append({"name": "projects-service-test", "scopes": service_scopes, "services": [projects["name"]]})

# A BinderHub stand-in behind the proxy at /services/binder/, as BinderHub is deployed.
if env.get("BINDER_PROJECTS_HUB_BINDER_URL"):
    c.JupyterHub.services.append({"name": "binder", "url": env["BINDER_PROJECTS_HUB_BINDER_URL"]})

# The tests' own service: it makes users and tokens and starts and stops servers.
c.JupyterHub.services.append({"name": "harness", "api_token": need("BINDER_PROJECTS_HUB_HARNESS_TOKEN")})
c.JupyterHub.load_roles.append({
    "name": "harness",
    "scopes": ["admin:users", "admin:servers", "tokens", "admin:groups", "read:roles"],
    "services": ["harness"],
})

# Hub templates the tests add (service/hubtemplates: the projects on the hub's home page).
c.JupyterHub.template_paths = json.loads(env.get("BINDER_PROJECTS_HUB_TEMPLATE_PATHS", "[]"))

# Groups the tests name (a JSON object: group → users); their roles come from the documented values.
for group, members in json.loads(env.get("BINDER_PROJECTS_HUB_GROUPS", "{}")).items():
    c.JupyterHub.load_groups[group] = members
