/** The test harness itself: a private server that answers, restarts empty, and a clear error without the binary. */
import { createConnection } from 'node:net';
import { findRedisServer, startRedisServer } from '../helpers/redis-server';

function command(port: number, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port }, () => socket.write(`${line}\r\n`));
    socket.once('data', (d) => {
      resolve(d.toString());
      socket.destroy();
    });
    socket.once('error', reject);
  });
}

describe('test/helpers/redis-server', () => {
  it('starts on a free port without persistence, restarts empty, stops', async () => {
    const server = await startRedisServer();
    try {
      expect(server.url).toBe(`redis://127.0.0.1:${server.port}`);
      expect(server.port).not.toBe(6379);
      expect(await command(server.port, 'CONFIG GET save')).toMatch(/save\r\n\$0\r\n/);
      expect(await command(server.port, 'CONFIG GET appendonly')).toMatch(/no/);
      await command(server.port, 'SET k v');
      await server.restart();
      expect(await command(server.port, 'EXISTS k')).toBe(':0\r\n');
    } finally {
      await server.stop();
    }
    expect(server.running).toBe(false);
    await expect(command(server.port, 'PING')).rejects.toThrow(/ECONNREFUSED/);
  });

  it('says to install redis-server when the binary is missing', () => {
    const saved = process.env.REDIS_SERVER_BIN;
    process.env.REDIS_SERVER_BIN = '/nonexistent/redis-server';
    try {
      expect(() => findRedisServer()).toThrow(/install redis-server/);
    } finally {
      if (saved === undefined) delete process.env.REDIS_SERVER_BIN;
      else process.env.REDIS_SERVER_BIN = saved;
    }
  });
});
