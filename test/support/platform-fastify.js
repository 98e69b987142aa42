// Jest setup file of the second platform's project (jest.config.js): the tests and the nodes they spawn run on fastify.
process.env.HTTP_PLATFORM = 'fastify';
