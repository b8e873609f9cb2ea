"""Uploads, attachments sent to providers, avatars: on local storage and on S3 (moto's real HTTP server)."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from moto.server import ThreadedMotoServer

from app.chats import attachments
from app.db import Database, utcnow
from app.storage.links import sign_link, verify_link
from tests.conftest import StartServer
from tests.fakes.upstream import FakeUpstream, Script
from tests.generation.helpers import send, with_key
from tests.gql import Account, GraphQLClient, error_codes, follow_stream
from tests.servers import TEST_SECRET_KEY, ServerProcess, free_port

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
UPLOAD = "mutation($file: Upload!) { uploadFile(file: $file) { id filename contentType size url } }"
AVATAR = "mutation($file: Upload) { updateProfile(avatar: $file) { avatarUrl } }"


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    moto.start()
    yield f"http://127.0.0.1:{port}"
    moto.stop()


@pytest.fixture(scope="session")
def s3_server(
    server_env: dict[str, str], s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    workdir = tmp_path_factory.mktemp("s3-server")
    env = server_env | {
        "STORAGE_BACKEND": "s3",
        "S3_BUCKET": f"files-{uuid.uuid4().hex[:8]}",
        "S3_ENDPOINT_URL": s3_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing-secret",
        "AWS_REGION": "us-east-1",
    }
    process = ServerProcess(env, cwd=workdir, log_path=workdir / "server.log")
    yield process
    process.stop()


@pytest.fixture(params=["local", "s3"])
async def api(request: pytest.FixtureRequest) -> AsyncIterator[GraphQLClient]:
    server: ServerProcess = request.getfixturevalue("server" if request.param == "local" else "s3_server")
    async with httpx.AsyncClient(timeout=30) as http:
        yield GraphQLClient(http, server.graphql_url, server.ws_url)


async def upload(
    api: GraphQLClient,
    account: Account,
    data: bytes,
    filename: str,
    claimed: str = "application/octet-stream",
    query: str = UPLOAD,
) -> httpx.Response:
    operations = json.dumps({"query": query, "variables": {"file": None}})
    return await api.http.post(
        api.url,
        data={"operations": operations, "map": json.dumps({"0": ["variables.file"]})},
        files={"0": (filename, data, claimed)},
        headers={"Authorization": f"Bearer {account.token}"},
    )


async def uploaded(
    api: GraphQLClient, account: Account, data: bytes, filename: str, claimed: str = "text/plain"
) -> dict[str, Any]:
    response = await upload(api, account, data, filename, claimed)
    body = response.json()
    assert "errors" not in body, body
    result: dict[str, Any] = body["data"]["uploadFile"]
    return result


class TestUploadFile:
    async def test_the_type_comes_from_the_bytes_and_the_link_serves_them(self, api: GraphQLClient) -> None:
        account = await api.sign_up()
        stored = await uploaded(api, account, PNG, "../../etc/innocent.txt", claimed="text/plain")
        assert (stored["filename"], stored["contentType"], stored["size"]) == ("innocent.txt", "image/png", len(PNG))
        download = await api.http.get(stored["url"])
        assert download.status_code == 200
        assert download.content == PNG
        assert download.headers["content-type"].startswith("image/png")

    async def test_a_png_renamed_pdf_is_stored_as_png(self, api: GraphQLClient) -> None:
        account = await api.sign_up()
        stored = await uploaded(api, account, PNG, "report.pdf", claimed="application/pdf")
        assert (stored["filename"], stored["contentType"]) == ("report.pdf", "image/png")

    @pytest.mark.parametrize(
        ("data", "name", "expected"),
        [
            (PDF, "a.pdf", "application/pdf"),
            (b"# Title\nbody", "notes.md", "text/markdown"),
            ("héllo".encode(), "hello.txt", "text/plain"),
            (b"GIF89a" + b"\x00" * 20, "x.gif", "image/gif"),
        ],
    )
    async def test_supported_types(self, api: GraphQLClient, data: bytes, name: str, expected: str) -> None:
        account = await api.sign_up()
        assert (await uploaded(api, account, data, name))["contentType"] == expected

    async def test_unsupported_bytes_are_refused(self, api: GraphQLClient) -> None:
        account = await api.sign_up()
        body = (await upload(api, account, b"MZ\x90\x00\x03\x00\x00\x00\xff\xff", "tool.png", "image/png")).json()
        assert error_codes(body) == ["BAD_USER_INPUT"]

    async def test_signed_out_cannot_upload(self, api: GraphQLClient) -> None:
        operations = json.dumps({"query": UPLOAD, "variables": {"file": None}})
        response = await api.http.post(
            api.url,
            data={"operations": operations, "map": json.dumps({"0": ["variables.file"]})},
            files={"0": ("a.png", PNG, "image/png")},
        )
        assert error_codes(response.json()) == ["UNAUTHENTICATED"]

    async def test_another_users_file_is_not_found(self, api: GraphQLClient) -> None:
        alice, bob = await api.sign_up(), await with_key(api)
        stored = await uploaded(api, alice, PNG, "a.png")
        body = await api.execute("query($id: ID!) { node(id: $id) { id } }", {"id": stored["id"]}, token=bob[0].token)
        assert error_codes(body) == ["NOT_FOUND"]
        sent = await api.execute(
            "mutation($i: SendMessageInput!) { sendMessage(input: $i) { chat { id } } }",
            {"i": {"content": "look", "provider": "OPENAI", "model": "gpt-4o", "attachmentIds": [stored["id"]]}},
            token=bob[0].token,
        )
        assert error_codes(sent) == ["NOT_FOUND"]


async def test_an_upload_over_the_limit_is_refused_while_streaming(start_server: StartServer) -> None:
    server = start_server(name="small-uploads", MAX_UPLOAD_BYTES="1000")
    async with httpx.AsyncClient(timeout=30) as http:
        api = GraphQLClient(http, server.graphql_url, server.ws_url)
        account = await api.sign_up()
        response = await upload(api, account, b"a" * 70_000, "big.txt")
        assert response.status_code == 413
        assert error_codes(response.json()) == ["BAD_USER_INPUT"]
        small = await upload(api, account, b"a" * 1001, "big.txt")
        assert error_codes(small.json()) == ["BAD_USER_INPUT"]
        fits = await upload(api, account, b"a" * 1000, "fits.txt")
        assert fits.json()["data"]["uploadFile"]["size"] == 1000


class TestAttachmentsReachTheProvider:
    @pytest.mark.parametrize(
        ("provider", "model"),
        [("OPENAI", "gpt-4o"), ("GEMINI", "gemini-2.0-flash"), ("ANTHROPIC", "claude-sonnet-4-5")],
    )
    async def test_images_and_pdfs_as_native_parts_text_inline(
        self, api: GraphQLClient, upstream: FakeUpstream, provider: str, model: str
    ) -> None:
        account, key = await with_key(api, provider)
        image = await uploaded(api, account, PNG, "pixel.png")
        pdf = await uploaded(api, account, PDF, "doc.pdf")
        notes = await uploaded(api, account, b"the secret word is tangerine", "notes.txt")
        upstream.script(key, Script(tokens=["seen"]))
        sent = await send(
            api,
            account,
            provider,
            model=model,
            content="What is in these?",
            attachmentIds=[image["id"], pdf["id"], notes["id"]],
        )
        events = await follow_stream(api.ws_url, account.token, sent["assistantMessage"]["id"])
        assert events[-1]["__typename"] == "MessageCompleted"
        seen = upstream.requests(key)[0]
        assert seen.files == ["image/png", "application/pdf"]
        assert "the secret word is tangerine" in seen.turns[0][1]
        listed = await api.data(
            "query($id: ID!) { node(id: $id) { ... on Message { attachments { id filename } } } }",
            {"id": sent["userMessage"]["id"]},
            token=account.token,
        )
        assert [a["filename"] for a in listed["node"]["attachments"]] == ["pixel.png", "doc.pdf", "notes.txt"]

    async def test_an_image_for_a_model_without_vision_is_refused_before_any_call(
        self, api: GraphQLClient, upstream: FakeUpstream
    ) -> None:
        account, key = await with_key(api)
        image = await uploaded(api, account, PNG, "pixel.png")
        body = await api.execute(
            "mutation($i: SendMessageInput!) { sendMessage(input: $i) { chat { id } } }",
            {"i": {"content": "see?", "provider": "OPENAI", "model": "o3-mini", "attachmentIds": [image["id"]]}},
            token=account.token,
        )
        assert error_codes(body) == ["BAD_USER_INPUT"]
        assert "vision" in body["errors"][0]["message"]
        assert upstream.requests(key) == []

    async def test_deleting_the_chat_deletes_its_files(self, api: GraphQLClient, upstream: FakeUpstream) -> None:
        account, key = await with_key(api)
        image = await uploaded(api, account, PNG, "pixel.png")
        upstream.script(key, Script(tokens=["ok"]))
        sent = await send(api, account, attachmentIds=[image["id"]])
        await follow_stream(api.ws_url, account.token, sent["assistantMessage"]["id"])
        await api.data("mutation($id: ID!) { deleteChat(id: $id) }", {"id": sent["chat"]["id"]}, token=account.token)
        assert (await api.http.get(image["url"])).status_code in (403, 404)


class TestAvatar:
    async def test_an_image_becomes_the_avatar(self, api: GraphQLClient) -> None:
        account = await api.sign_up()
        assert (await api.data("{ me { avatarUrl } }", token=account.token)) == {"me": {"avatarUrl": None}}
        body = (await upload(api, account, PNG, "me.png", query=AVATAR)).json()
        url = body["data"]["updateProfile"]["avatarUrl"]
        assert (await api.http.get(url)).content == PNG
        again = (await api.data("{ me { avatarUrl } }", token=account.token))["me"]["avatarUrl"]
        assert again is not None

    @pytest.mark.parametrize(
        ("data", "name"), [(b"not an image", "me.png"), (PNG + b"\x00" * (2 * 1024 * 1024), "big.png")]
    )
    async def test_not_an_image_or_too_big(self, api: GraphQLClient, data: bytes, name: str) -> None:
        account = await api.sign_up()
        body = (await upload(api, account, data, name, query=AVATAR)).json()
        assert error_codes(body) == ["BAD_USER_INPUT"]
        assert (await api.data("{ me { avatarUrl } }", token=account.token)) == {"me": {"avatarUrl": None}}


def test_signed_links_reject_tampering_and_expiry() -> None:
    object_id = uuid.uuid4()
    token = sign_link(TEST_SECRET_KEY, "attachment", object_id, now=1_000_000)
    assert verify_link(TEST_SECRET_KEY, token, now=1_000_010) is not None
    assert verify_link(TEST_SECRET_KEY, token, now=1_000_000 + 16 * 60) is None  # expired
    assert verify_link("another-secret-key-of-the-same-length-0000000000", token, now=1_000_010) is None
    forged = token.replace(str(object_id), str(uuid.uuid4()))
    assert verify_link(TEST_SECRET_KEY, forged, now=1_000_010) is None
    assert verify_link(TEST_SECRET_KEY, "garbage", now=1_000_010) is None


async def test_unsent_uploads_older_than_a_day_are_claimed(db: Database) -> None:
    from app.auth.models import User
    from app.chats.models import Attachment

    async with db.transaction() as session:
        user = User(email="janitor@example.com", password_hash="x")
        session.add(user)
        await session.flush()
        for age_hours in (30, 2):
            session.add(
                Attachment(
                    owner_id=user.id,
                    filename="f",
                    content_type="text/plain",
                    size=1,
                    storage_key=f"attachments/{user.id}/{age_hours}",
                    created_at=utcnow() - timedelta(hours=age_hours),
                )
            )
    async with db.transaction() as session:
        keys = await attachments.claim_unsent(session, older_than=utcnow() - attachments.UNSENT_LIFETIME)
    assert keys == [f"attachments/{user.id}/30"]
