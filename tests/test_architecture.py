"""The dependency rules of style.md, enforced on the import graph."""

from __future__ import annotations

from pytest_archon import archrule

DOMAINS = ("auth", "keys")
WEB = ("strawberry*", "starlette*", "app.schema", "app.context", "app.main")


def test_core_layers_import_no_graphql_or_web() -> None:
    (
        archrule("models, repositories and services stay out of the web layer")
        .match(
            "app.*.models",
            "app.*.repository",
            "app.*.service",
            "app.keys.crypto",
            "app.auth.passwords",
            "app.auth.tokens",
        )
        .should_not_import(*WEB)
        .check("app", only_toplevel_imports=False)
    )


def test_resolvers_never_touch_repositories() -> None:
    (
        archrule("resolvers go through services")
        .match(
            "app.*.queries",
            "app.*.mutations",
            "app.*.types",
            "app.*.loaders",
            "app.graphql*",
            "app.main",
            "app.context",
        )
        .should_not_import("app.*.repository")
        .check("app", only_toplevel_imports=False, only_direct_imports=True)
    )


def test_domains_reach_each_other_only_through_services() -> None:
    for domain in DOMAINS:
        others = [other for other in DOMAINS if other != domain]
        for other in others:
            (
                archrule(f"{domain} uses {other} only through its service")
                .match(f"app.{domain}.*")
                .exclude(f"app.{domain}.types", f"app.{domain}.queries", f"app.{domain}.mutations")
                .should_not_import(f"app.{other}.repository", f"app.{other}.crypto")
                .check("app", only_toplevel_imports=False, only_direct_imports=True)
            )


def test_infrastructure_imports_no_domain() -> None:
    (
        archrule("providers know no domain")
        .match("app.providers*")
        .should_not_import("app.auth*", "app.keys*", "app.schema", "app.context")
        .check("app", only_toplevel_imports=False)
    )


def test_repositories_do_not_import_services() -> None:
    (
        archrule("no upward imports")
        .match("app.*.repository", "app.*.models")
        .should_not_import("app.*.service", "app.*.types", "app.*.queries", "app.*.mutations")
        .check("app", only_toplevel_imports=False, only_direct_imports=True)
    )
