"""Size limits of the wire: what a sender may send and a receiver rejects before decoding."""

MAX_MESSAGE_BYTES = 64 * 1024  # an MQTT payload or Kafka record; larger ones are rejected
MAX_DLQ_RECORD_BYTES = 1024 * 1024  # a dead letter embeds up to Mosquitto's message size
MAX_TEXT_CHARS = 2048  # a classified message; devices send far less
MAX_REASON_CHARS = 300  # ValidationError.reason is truncated to this
MAX_TOPIC_CHARS = 256  # an MQTT topic recorded in a dead letter
MAX_CHUNK = 16 * 1024  # blob bytes per OTA chunk, at most
MAX_BLOB_BYTES = 16 * 1024 * 1024  # a model blob a release manifest may describe
SLOT_BYTES = 384 * 1024  # one OTA slot of the device (STM32F405 flash sectors 6-8 or 9-11):
# a blob larger than this is refused by the device (TL_ERR_TOO_LARGE)
