use std::io;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use futures::io::AsyncWrite;

use super::*;
use crate::test_wakes::ManualTimer;

const MAX: usize = 64 * 1024 * 1024;

/// A socket that takes at most `room` bytes until given more, and counts
/// the writes that took bytes.
#[derive(Clone, Default)]
struct Socket(Arc<Mutex<SocketState>>);

#[derive(Default)]
struct SocketState {
    taken: Vec<u8>,
    room: usize,
    broken: bool,
    writes: usize,
}

impl Socket {
    fn with_room(room: usize) -> Self {
        let socket = Self::default();
        socket.0.lock().unwrap().room = room;
        socket
    }

    fn give(&self, room: usize) {
        self.0.lock().unwrap().room += room;
    }

    fn taken(&self) -> usize {
        self.0.lock().unwrap().taken.len()
    }
}

impl AsyncWrite for Socket {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let mut s = self.0.lock().unwrap();
        if s.broken {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        let n = s.room.min(buf.len());
        if n == 0 {
            return Poll::Pending;
        }
        s.room -= n;
        s.writes += 1;
        s.taken.extend_from_slice(&buf[..n]);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// An open client codec (the link's) and the server codec reading it.
fn open_pair() -> (SharedWs, WsCodec) {
    let mut client = WsCodec::client("ws://127.0.0.1:7480/link", MAX).unwrap();
    let mut server = WsCodec::server(MAX).unwrap();
    for _ in 0..8 {
        let up = client.take_output();
        let down = server.take_output();
        if !up.is_empty() {
            server.receive(&up).unwrap();
        }
        if !down.is_empty() {
            client.receive(&down).unwrap();
        }
    }
    assert!(client.is_open() && server.is_open());
    (Arc::new(Mutex::new(client)), server)
}

/// Every message the peer reads from what `socket` took.
fn read_by_peer(socket: &Socket, peer: &mut WsCodec) -> Vec<Vec<u8>> {
    let bytes = std::mem::take(&mut socket.0.lock().unwrap().taken);
    peer.receive(&bytes).unwrap();
    let mut got = Vec::new();
    while let Some(m) = peer.next_message().unwrap() {
        got.push(m);
    }
    got
}

fn opened(socket: &Socket) -> (LinkEnd<Socket>, LinkWake, WsCodec) {
    let (end, wake) = LinkEnd::new();
    let (ws, peer) = open_pair();
    end.writer.install(ws, socket.clone());
    (end, wake, peer)
}

fn writer_pass(end: &LinkEnd<Socket>) -> Poll<Result<(), ()>> {
    end.writer.poll_out(&mut Context::from_waker(Waker::noop()))
}

/// What the node task does for one message: queue it, then flush.
fn send_now(end: &LinkEnd<Socket>, message: Vec<u8>) {
    end.send(message).unwrap();
    end.flush();
}

#[test]
fn the_node_task_writes_a_message_itself_when_the_socket_takes_it() {
    let socket = Socket::with_room(usize::MAX);
    let (end, wake, mut peer) = opened(&socket);
    assert!(end.send(b"one".to_vec()).unwrap(), "the first message makes the link due a flush");
    assert_eq!(socket.taken(), 0, "nothing is written before the flush");
    end.flush();
    // Written on the spot: the writer task was not woken.
    assert!(wake.kicks.try_recv().is_err());
    assert_eq!(read_by_peer(&socket, &mut peer), vec![b"one".to_vec()]);
}

#[test]
fn the_messages_of_one_burst_leave_in_one_write() {
    let socket = Socket::with_room(usize::MAX);
    let (end, _wake, mut peer) = opened(&socket);
    assert!(end.send(b"one".to_vec()).unwrap());
    assert!(!end.send(b"two".to_vec()).unwrap(), "already due a flush");
    assert!(!end.send(b"three".to_vec()).unwrap());
    end.flush();
    assert_eq!(socket.0.lock().unwrap().writes, 1);
    assert_eq!(read_by_peer(&socket, &mut peer), vec![b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]);
}

#[test]
fn what_the_socket_does_not_take_is_left_to_the_writer_task_in_order() {
    let socket = Socket::with_room(4);
    let (end, wake, mut peer) = opened(&socket);
    send_now(&end, vec![1; 100]);
    assert!(wake.kicks.try_recv().is_ok(), "the writer task is woken for the rest");
    assert_eq!(socket.taken(), 4);
    // While the writer task is on it, the node task queues and leaves the socket alone.
    send_now(&end, vec![2; 10]);
    assert_eq!(socket.taken(), 4);
    assert!(wake.kicks.try_recv().is_err(), "woken once");
    socket.give(usize::MAX / 2);
    assert_eq!(writer_pass(&end), Poll::Ready(Ok(())));
    assert_eq!(read_by_peer(&socket, &mut peer), vec![vec![1; 100], vec![2; 10]]);
    // Done: the node task writes the next one itself.
    send_now(&end, vec![3; 10]);
    assert!(wake.kicks.try_recv().is_err());
    assert_eq!(read_by_peer(&socket, &mut peer), vec![vec![3; 10]]);
}

#[test]
fn while_the_writer_task_waits_for_the_socket_the_node_task_does_not_poll_it() {
    let socket = Socket::with_room(0);
    let (end, _wake, mut peer) = opened(&socket);
    end.send(vec![1; 10]).unwrap();
    // The writer task (woken by the reader for a pong, say) finds the socket full.
    assert!(writer_pass(&end).is_pending());
    socket.give(usize::MAX / 2);
    send_now(&end, vec![2; 10]);
    assert_eq!(socket.taken(), 0, "the writer task owns the socket's waker");
    assert_eq!(writer_pass(&end), Poll::Ready(Ok(())));
    assert_eq!(read_by_peer(&socket, &mut peer), vec![vec![1; 10], vec![2; 10]]);
}

#[test]
fn messages_sent_before_the_socket_opens_leave_first() {
    let socket = Socket::with_room(usize::MAX);
    let (end, wake) = LinkEnd::new();
    send_now(&end, b"early".to_vec());
    assert!(wake.kicks.try_recv().is_err(), "nothing to wake before the socket opens");
    let (ws, mut peer) = open_pair();
    end.writer.install(ws, socket.clone());
    assert_eq!(writer_pass(&end), Poll::Ready(Ok(())), "the writer task's first pass");
    send_now(&end, b"late".to_vec());
    assert_eq!(read_by_peer(&socket, &mut peer), vec![b"early".to_vec(), b"late".to_vec()]);
}

#[test]
fn a_link_that_does_not_drain_refuses_past_its_byte_bound() {
    let socket = Socket::with_room(0);
    let (end, _wake, _peer) = opened(&socket);
    let big = MAX_LINK_QUEUE_BYTES / 2 + 1;
    send_now(&end, vec![0; big]);
    let refused = end.send(vec![0; big]);
    assert!(matches!(refused, Err(ActrError::ResourceExhausted(_))), "{refused:?}");
    // Once the socket took the first message, the second fits.
    socket.give(usize::MAX / 2);
    assert_eq!(writer_pass(&end), Poll::Ready(Ok(())));
    send_now(&end, vec![0; big]);
}

#[test]
fn a_link_refuses_past_its_message_bound() {
    let socket = Socket::with_room(0);
    let (end, _wake, _peer) = opened(&socket);
    for _ in 0..LINK_QUEUE {
        send_now(&end, vec![1]);
    }
    assert!(matches!(end.send(vec![1]), Err(ActrError::ResourceExhausted(_))));
}

#[test]
fn a_failed_write_closes_the_link_for_later_sends() {
    let socket = Socket::with_room(0);
    socket.0.lock().unwrap().broken = true;
    let (end, wake, _peer) = opened(&socket);
    send_now(&end, vec![1]);
    assert!(wake.kicks.try_recv().is_ok(), "the writer task is woken to end");
    assert_eq!(writer_pass(&end), Poll::Ready(Err(())));
    assert!(matches!(end.send(vec![1]), Err(ActrError::Unavailable(_))));
}

#[test]
fn a_writer_stuck_on_a_socket_nobody_reads_ends_once_the_link_is_dropped_and_the_linger_passed() {
    use futures::task::LocalSpawnExt;
    let socket = Socket::with_room(0);
    let (end, wake, _peer) = opened(&socket);
    let (timer, fire) = ManualTimer::new();
    let (_kick_tx, kick_rx) = async_channel::bounded(1);
    let (alive, writer_gone) = async_channel::bounded::<()>(1);
    let mut pool = futures::executor::LocalPool::new();
    pool.spawner().spawn_local(write_loop(timer, end.writer.clone(), wake, kick_rx, alive)).unwrap();
    send_now(&end, vec![7; 1000]);
    pool.run_until_stalled();
    assert!(!writer_gone.is_closed(), "the writer waits for the socket");
    drop(end);
    pool.run_until_stalled();
    assert!(!writer_gone.is_closed(), "a dropped link gets the linger to flush");
    fire();
    pool.run_until_stalled();
    assert!(writer_gone.is_closed(), "then the writer ends, and with it the reader");
    assert_eq!(socket.taken(), 0);
}

#[test]
fn a_socket_that_keeps_taking_part_of_the_buffer_neither_stalls_the_link_nor_grows_it() {
    let socket = Socket::with_room(0);
    let (end, _wake, mut peer) = opened(&socket);
    send_now(&end, vec![0; 100]);
    // Each round the peer takes 100 bytes while 100 more (and a frame
    // header) are sent: the buffer never empties, for far more messages
    // than the link's message bound.
    for i in 1..=2 * LINK_QUEUE as u32 {
        end.send(i.to_be_bytes().repeat(25)).unwrap();
        end.flush();
        socket.give(100);
        assert!(writer_pass(&end).is_pending());
    }
    {
        let s = end.writer.lock();
        assert!(s.ends.len() < LINK_QUEUE / 4, "{} messages counted as waiting", s.ends.len());
        assert!(
            s.out.len() < 4 * s.queued_bytes().max(1024),
            "buffer {} for {} waiting",
            s.out.len(),
            s.queued_bytes()
        );
    }
    socket.give(usize::MAX / 2);
    assert_eq!(writer_pass(&end), Poll::Ready(Ok(())));
    let got = read_by_peer(&socket, &mut peer);
    assert_eq!(got.len(), 1 + 2 * LINK_QUEUE);
    assert_eq!(got[0], vec![0; 100]);
    for (i, message) in got[1..].iter().enumerate() {
        assert_eq!(message, &(i as u32 + 1).to_be_bytes().repeat(25), "message {i} in order");
    }
}
