"""The local development stack: real Kafka, MinIO, Milvus and Triton processes on 127.0.0.1.

Production deployments point the services at external endpoints through settings; this package only
exists so a single machine without Docker can run the very same client code against real engines.
"""
