import json

from protocol import ErrorCode, Joined, ProtocolError, ServerSession, SessionState
from protocol.session import CloseCode, SessionLimits
from protocol.signaling import Join, Offer, ServerOffer, serialize

JOIN = serialize(Join("standup", "Ada"))
OFFER = '{"type": "offer", "sdp": "v=0"}'
ANSWER = '{"type": "answer", "sdp": "v=0"}'


def errors(session: ServerSession) -> list[dict]:
    return [json.loads(f) for f in session.data_to_send() if json.loads(f)["type"] == "error"]


def joined(session: ServerSession) -> None:
    assert isinstance(session.receive(JOIN, 0.0), Join)
    session.send(Joined("p-1", "standup", (), 0.0, "e", ("en",)))
    session.data_to_send()


def test_nothing_before_join() -> None:
    session = ServerSession()
    assert session.receive(OFFER, 0.0) is None
    assert errors(session) == [
        {"type": "error", "code": "not-joined", "message": "send join first", "ref": "offer"}
    ]
    assert session.state is SessionState.AWAITING_JOIN


def test_join_then_offer_once() -> None:
    session = ServerSession()
    joined(session)
    assert session.state is SessionState.JOINED
    assert isinstance(session.receive(OFFER, 0.1), Offer)
    assert session.receive(OFFER, 0.2) is None
    assert errors(session)[0]["code"] == "bad-request"


def test_refused_offer_may_be_retried() -> None:
    session = ServerSession()
    joined(session)
    session.receive(OFFER, 0.1)
    session.reject_offer(ProtocolError(ErrorCode.BAD_REQUEST, "bad sdp", "offer"))
    assert isinstance(session.receive(OFFER, 0.2), Offer)


def test_answer_only_to_a_pending_server_offer() -> None:
    session = ServerSession()
    joined(session)
    session.receive(OFFER, 0.1)
    assert session.receive(ANSWER, 0.2) is None
    assert session.can_offer
    session.send(ServerOffer("v=0"))
    assert not session.can_offer
    assert session.receive(ANSWER, 0.3) is not None
    assert session.can_offer


def test_second_join_is_refused_and_refused_join_may_be_retried() -> None:
    session = ServerSession()
    session.receive(JOIN, 0.0)
    assert session.receive(JOIN, 0.0) is None  # one in progress
    session.reject_join(ProtocolError(ErrorCode.ROOM_FULL, "full", "join"))
    codes = [e["code"] for e in errors(session)]
    assert codes == ["bad-request", "room-full"]
    assert isinstance(session.receive(JOIN, 0.1), Join)


def test_leave_closes_normally() -> None:
    session = ServerSession()
    joined(session)
    session.receive('{"type": "leave"}', 1.0)
    assert session.state is SessionState.CLOSED
    assert session.close_code is CloseCode.NORMAL
    assert session.receive(OFFER, 1.1) is None


def test_repeated_abuse_closes_with_1008() -> None:
    session = ServerSession(SessionLimits(max_errors=3))
    for i in range(3):
        session.receive("garbage", float(i))
    assert session.close_code is CloseCode.POLICY_VIOLATION
    assert len(errors(session)) == 3


def test_rate_limit() -> None:
    session = ServerSession(SessionLimits(rate=1.0, burst=2.0, max_errors=100))
    joined(session)  # one token used at t=0
    session.receive('{"type": "subtitles", "enabled": true}', 0.0)
    session.receive('{"type": "subtitles", "enabled": true}', 0.0)
    assert [e["code"] for e in errors(session)] == ["rate-limited"]
    assert session.receive('{"type": "subtitles", "enabled": false}', 1.5) is not None
