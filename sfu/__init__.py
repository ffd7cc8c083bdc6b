"""The SFU: rooms, aiortc peers, signaling over websockets, audio forwarding, the room audio tap,
caption delivery on data channels, and the HTTP surface."""
