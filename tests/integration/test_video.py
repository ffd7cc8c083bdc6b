"""Video forwarded untouched: aiortc clients publishing a synthetic VP8 camera decode each other's
pictures, and an audio-only client in the same room still hears everyone and gets its captions
channel; nobody's offer with video is refused, and a token-less guest's video is forwarded like
its audio."""

from collections.abc import AsyncIterator

import numpy as np
import pytest
import pytest_asyncio
from aiortc import RTCPeerConnection

from client import CaptionClient, WavTrack
from client.audio import RATE
from client.camera import SyntheticCamera
from protocol import Join, Offer
from protocol.signaling import serialize
from sfu.server import CaptionServer

from .conftest import client, http_request, until, ws_url
from .scripted import scripted_server

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def server() -> AsyncIterator[CaptionServer]:
    """Captions of whatever the room hears (the tones), every second."""
    async with scripted_server(1.0) as server:
        yield server


def tone() -> WavTrack:
    t = np.arange(RATE * 2, dtype=np.float32) / RATE
    return WavTrack(0.3 * np.sin(2 * np.pi * 440 * t).astype(np.float32), loop=True)


def pid(participant: CaptionClient) -> str:
    assert participant.joined is not None
    return participant.joined.participant


async def test_cameras_forwarded_and_an_audio_only_client_hears_everyone(
    server: CaptionServer,
) -> None:
    ada = client(server, "video", "Ada", audio=tone(), camera=SyntheticCamera())
    bob = client(server, "video", "Bob", audio=tone(), camera=SyntheticCamera())
    cy = client(server, "video", "Cy", audio=tone())  # audio only, as before video existed
    present = [ada, bob, cy]
    try:
        for participant in present:
            await participant.join()
        for viewer in present:
            for source in (ada, bob):
                if viewer is source:
                    continue
                await until(
                    lambda v=viewer, s=source: v.video_from.get(pid(s), {}).get("camera", 0) >= 10,
                    15,
                    f"{viewer.name} to decode {source.name}'s camera",
                )
            for speaker in present:
                if speaker is not viewer:
                    await until(
                        lambda v=viewer, s=speaker: v.frames_from.get(pid(s), 0) >= 25,
                        15,
                        f"{viewer.name} to hear {speaker.name}",
                    )
        assert all(size == (160, 120) for size in bob.video_sizes.values())
        # The audio-only client reads the room's captions as the video clients do.
        await until(
            lambda: min(len(p.finals()) for p in present) >= 2, 15, "everyone to read 2 captions"
        )
        assert [c.text for c in cy.finals()[:2]] == [c.text for c in ada.finals()[:2]]
        assert not any(p.negotiation_violations for p in present)
        status, _, body = await http_request(server.port, "GET", "/metrics")
        metrics = {
            line.split()[0].split("{")[0]: float(line.split()[-1])
            for line in body.decode().splitlines()
            if line and not line.startswith("#")
        }
        assert status == 200 and metrics["livecaptions_forwarded_video_packets_total"] > 0
        # Each new route asked its source for a keyframe (a subscriber starts at one).
        assert metrics["livecaptions_keyframe_requests_relayed_total"] > 0
        assert "livecaptions_video_frames_dropped_total" in metrics
        # The load the node publishes to the cluster counts the video it forwards too.
        room = server.rooms["video"]
        assert (
            server.forwarded_packets() >= room.forwarding.counters.forwarded + room.video.forwarded
        )
        assert room.video.forwarded > 0
    finally:
        for participant in present:
            await participant.leave()


async def test_an_offer_with_three_video_sections_is_refused(server: CaptionServer) -> None:
    guest = CaptionClient(ws_url(server), room="video-refused", name="Eve")
    await guest.connect()
    try:
        await guest.send_frame(serialize(Join("video-refused", "Eve")))
        await guest.wait_for(lambda: guest.joined is not None, 10)
        pc = RTCPeerConnection()
        pc.addTransceiver("audio")
        for _ in range(3):
            pc.addTransceiver("video")
        pc.createDataChannel("captions")
        await pc.setLocalDescription(await pc.createOffer())
        await guest.send_frame(serialize(Offer(pc.localDescription.sdp)))
        await guest.wait_for(lambda: bool(guest.errors), 10)
        assert guest.errors[-1].code.value == "bad-request"
        assert "at most 2" in guest.errors[-1].message
        await pc.close()
    finally:
        await guest.close()


async def test_camera_state_relayed_without_renegotiation(server: CaptionServer) -> None:
    ada = client(server, "video-state", "Ada", audio=tone(), camera=SyntheticCamera())
    bob = client(server, "video-state", "Bob", audio=tone())
    try:
        await ada.join()
        await bob.join()
        await until(lambda: bool(bob.video_from.get(pid(ada))), 15, "Bob to see Ada's camera")
        offers = bob.pc.remoteDescription.sdp if bob.pc and bob.pc.remoteDescription else ""
        await ada.set_media(camera=False)
        await bob.wait_for(lambda: pid(ada) in bob.media, 5)
        assert not bob.media[pid(ada)].camera
        await ada.set_media(camera=True, screen=True)
        await bob.wait_for(lambda: bob.media[pid(ada)].screen, 5)
        assert bob.media[pid(ada)].camera
        assert bob.pc is not None and bob.pc.remoteDescription.sdp == offers  # no new offer
        late = client(server, "video-state", "Cy")
        await late.join()
        await late.wait_for(lambda: pid(ada) in late.media, 5)  # told on joining
        assert late.media[pid(ada)].screen
        await late.leave()
    finally:
        await ada.leave()
        await bob.leave()
