"""The transport seam: the Transport protocol, client options and the aiobotocore client."""
