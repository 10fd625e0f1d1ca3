# The NebulaIO image: nothing but the static binary. No image registry is reachable where this is
# built, so there is no base image and no multi-stage build: `make image` compiles
# bin/nebulaio-linux on the host (CGO_ENABLED=0) and this file only copies it in.
FROM scratch
COPY bin/nebulaio-linux /nebulaio
VOLUME /data
EXPOSE 9000 9001 9002 9003 9004 9004/udp
ENTRYPOINT ["/nebulaio"]
CMD ["server", "--data_dir=/data"]
