// Jest setup file of the second platform's project (jest.config.js): the tests and the nodes they spawn run on express.
process.env.HTTP_PLATFORM = 'express';
