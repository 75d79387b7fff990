"""A client generated from Berth's OpenAPI document (openapi-python-client) drives a
session through the API; every answer must parse into the model the document names.

Usage: python3 openapi_client.py <dir holding the generated package> <base URL> <admin password>
"""

import importlib
import sys

sys.path.insert(0, sys.argv[1])
BASE, PASSWORD = sys.argv[2], sys.argv[3]

client_module = importlib.import_module("berth_api_client")
models = importlib.import_module("berth_api_client.models")


def api(group, operation):
    return importlib.import_module(f"berth_api_client.api.{group}.{group}_{operation}")


client = client_module.Client(base_url=BASE, httpx_args={"auth": ("admin", PASSWORD)}, raise_on_unexpected_status=True)


def call(group, operation, *args, expect, status, **kwargs):
    """Calls an operation; the answer must have `status` and parse into `expect`."""
    response = api(group, operation).sync_detailed(*args, client=client, **kwargs)
    assert response.status_code == status, f"{group}_{operation}: {response.status_code} {response.content!r}"
    if expect is None:
        return None
    parsed = response.parsed
    assert isinstance(parsed, expect), f"{group}_{operation}: {type(parsed)} is not {expect}: {response.content!r}"
    return parsed


alice = call("accounts", "create", body=models.NewAccount(name="alice", password="alice-password-1"), expect=models.Account, status=201)
assert alice.name == "alice" and not alice.is_org and alice.is_active
acme = call("accounts", "create", body=models.NewAccount(name="acme", is_org=True), expect=models.Account, status=201)
assert acme.is_org
page = call("accounts", "list", expect=models.AccountPage, status=200)
assert [a.name for a in page.accounts] == ["acme", "admin", "alice"], page
team = call("teams", "create_team", "acme", body=models.NewTeam(name="devs", description="the developers"), expect=models.Team, status=201)
assert (team.name, team.org_name, team.description) == ("devs", "acme", "the developers")
call("teams", "add_member", "acme", "devs", "alice", expect=models.Done, status=200)
members = call("teams", "list_members", "acme", "devs", expect=models.MemberList, status=200)
assert [m.member.name for m in members.members] == ["alice"]
teams = call("teams", "list_teams", "acme", expect=models.TeamList, status=200)
assert sorted(t.name for t in teams.teams) == ["devs", "owners"]
grant = call("access", "grant_namespace", "acme", "devs", body=models.AccessLevel(access_level="read-write"), expect=models.TeamAccess, status=200)
assert grant.access_level == "read-write" and grant.team.org_name == "acme"
repo = call("repositories", "create", "acme", body=models.NewRepository(name="web", visibility="public"), expect=models.Repository, status=201)
assert (repo.namespace, repo.name, repo.visibility) == ("acme", "web", "public")
call("access", "grant_team", "acme", "web", "devs", body=models.AccessLevel(access_level="admin"), expect=models.TeamAccess, status=200)
listed = call("access", "list_team_access", "acme", "web", expect=models.RepositoryTeamAccess, status=200)
assert [(t.team.name, t.access_level) for t in listed.team_access_list] == [("devs", "admin")]
namespace = call("access", "list_namespace_access", "acme", expect=models.NamespaceTeamAccess, status=200)
assert [(t.team.name, t.access_level) for t in namespace.team_access_list] == [("devs", "read-write")]
effective = call("access", "user_access", "alice", "acme", "web", expect=models.UserAccess, status=200)
assert effective.access_level == "admin"
repositories = call("repositories", "list", expect=models.RepositoryPage, status=200)
assert [f"{r.namespace}/{r.name}" for r in repositories.repositories] == ["acme/web"]
changed = call("repositories", "update", "acme", "web", body=models.RepositoryChanges(immutable_tags=True), expect=models.Repository, status=200)
assert changed.immutable_tags
tags = call("tags", "list", "acme", "web", expect=list, status=200)
assert tags == []
token = call("tokens", "create", "alice", body=models.NewToken(name="ci", actions=["pull"], repositories=["acme/web"]), expect=models.Token, status=201)
assert token.token and token.actions == ["pull"]
tokens = call("tokens", "list", "alice", expect=models.TokenList, status=200)
assert [t.name for t in tokens.tokens] == ["ci"] and not tokens.tokens[0].token
quota = call("quotas", "get", "acme", expect=models.Quota, status=200)
assert quota.used_bytes == 0
call("gc", "status", expect=models.GcStatus, status=200)
cluster = call("cluster", "status", expect=models.ClusterStatus, status=200)
assert cluster.quorum and len(cluster.members) == 1
policy = call("trust", "get", "acme", expect=models.SigningPolicy, status=200)
assert not policy.signed_pulls_only

# Failures parse as the error envelope.
missing = call("accounts", "get", "nobody", expect=models.ErrorBody, status=404)
assert missing.errors[0].code == "NO_SUCH_ACCOUNT", missing
refused = call("teams", "delete_team", "acme", "owners", expect=models.ErrorBody, status=409)
assert refused.errors[0].code == "OWNERS_TEAM"
call("teams", "delete_team", "acme", "devs", expect=None, status=204)

# DTR's /enzi/v0 copies of the account operations.
enzi = importlib.import_module("berth_api_client.api.enzi.enzi_accounts_get").sync_detailed("alice", client=client)
assert enzi.status_code == 200 and isinstance(enzi.parsed, models.Account), enzi.content
print("the generated client parsed every answer")
